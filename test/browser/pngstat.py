#!/usr/bin/env python3
"""Reads a PNG (8-bit greyscale, RGB or RGBA, not interlaced) with zlib alone
and prints what a test needs to tell a blank page from a drawn one:

    width height ink colours

ink: the share of pixels that differ from the most common colour (the
background), in per cent; colours: how many distinct colours there are.
Usage: pngstat.py FILE.png
"""
import struct
import sys
import zlib
from collections import Counter


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG file')
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
    width, height, depth, ctype, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError('unsupported PNG: depth %d, colour type %d, interlace %d'
                         % (depth, ctype, interlace))
    raw = zlib.decompress(b''.join(idat))
    stride = width * channels
    rows, prev, pos = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def main():
    width, height, channels, rows = read_png(sys.argv[1])
    counts = Counter()
    for row in rows:
        for x in range(0, len(row), channels):
            counts[row[x:x + channels]] += 1
    background = counts.most_common(1)[0][1]
    ink = 100.0 * (width * height - background) / (width * height)
    print('%d %d %.2f %d' % (width, height, ink, len(counts)))


if __name__ == '__main__':
    main()
