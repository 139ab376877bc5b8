#!/usr/bin/env python3
"""Checks META.json against the PGXN Meta Spec 1.0.x, and against the tree.

The spec's rules (pgxn.org/spec, and the JSON Schema PGXN publishes for
it), written out here as code: the mandatory keys, the type and form of
every key, no unknown key but custom ones (x_ or X_).  Then, with --tree,
what the spec cannot know: the files that "provides" names exist, and the
distribution, the extension, apikey.control and debian/changelog agree on
the version.

Usage: check-meta.py [--tree DIR] [META.json]      (default ./META.json)
       check-meta.py --self-test                   the checks catch bad files
Exit status 0 when valid; the errors, one per line, otherwise.
"""
import argparse
import copy
import json
import os
import re
import sys

SEMVER = (r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
          r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
          r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
          r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
VERSION_RE = re.compile("^" + SEMVER + "$")
# one clause of a version range: an optional operator, then a version
RANGE_CLAUSE_RE = re.compile(r"^(?:(?:[=!]=|[<>]=?)\s*)?" + SEMVER + "$")
# a term: two characters or more, no slash, backslash, space or control
TERM_RE = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
TAG_RE = re.compile(r"^[^/\\\x00-\x1f\x7f]{2,255}$")
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
    "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
    "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
    "restricted", "unrestricted", "unknown",
}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONSHIPS = {"requires", "recommends", "suggests", "conflicts"}
META_SPEC_URLS = {"https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt"}


class Checker:
    """Collects the errors of one document, each with its path."""

    def __init__(self):
        self.errors = []

    def error(self, path, message):
        self.errors.append(f"{path}: {message}")

    # ---- value types ----

    def string(self, path, value, min_length=1):
        if not isinstance(value, str):
            self.error(path, "must be a string")
            return False
        if len(value) < min_length:
            self.error(path, f"must have at least {min_length} character(s)")
            return False
        return True

    def term(self, path, value):
        if self.string(path, value, 2) and not TERM_RE.match(value):
            self.error(path, "must be a term: no slash, backslash, space or control character")

    def version(self, path, value):
        if self.string(path, value) and not VERSION_RE.match(value):
            self.error(path, f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH)")

    def uri(self, path, value):
        if self.string(path, value) and not URI_RE.match(value):
            self.error(path, f"{value!r} is not a URI")

    def relative_path(self, path, value):
        if not self.string(path, value, 2):
            return
        if value.startswith("/") or "\\" in value or ".." in value.split("/"):
            self.error(path, f"{value!r} must be a relative path with Unix separators")

    def version_range(self, path, value):
        if value == 0 and not isinstance(value, bool):
            return
        if not isinstance(value, str):
            self.error(path, "must be a version range string, or 0")
            return
        if value == "0":
            return
        for clause in value.split(","):
            if not RANGE_CLAUSE_RE.match(clause.strip()):
                self.error(path, f"{value!r} is not a version range")
                return

    def object(self, path, value, known=(), required=(), min_properties=0):
        """An object of known keys and custom ones; False if not an object."""
        if not isinstance(value, dict):
            self.error(path, "must be an object")
            return False
        for key in required:
            if key not in value:
                self.error(path, f"the mandatory key {key!r} is missing")
        for key in value:
            if key not in known and not re.match(r"^[xX]_.", key):
                self.error(f"{path}.{key}", "is not a key of the spec (custom keys start with x_)")
        if len(value) < min_properties:
            self.error(path, f"must have at least {min_properties} key(s)")
        return True

    # ---- the keys of the spec ----

    def maintainer(self, path, value):
        if isinstance(value, list):
            if not value:
                self.error(path, "must not be an empty list")
            for i, item in enumerate(value):
                self.string(f"{path}[{i}]", item)
        else:
            self.string(path, value)

    def license(self, path, value):
        if isinstance(value, str):
            if value not in LICENSES:
                self.error(path, f"{value!r} is not a license the spec knows")
        elif isinstance(value, list):
            if not value:
                self.error(path, "must not be an empty list")
            for i, item in enumerate(value):
                if item not in LICENSES:
                    self.error(f"{path}[{i}]", f"{item!r} is not a license the spec knows")
        elif isinstance(value, dict):
            if not value:
                self.error(path, "must not be an empty object")
            for name, url in value.items():
                self.uri(f"{path}.{name}", url)
        else:
            self.error(path, "must be a license name, a list of them, or an object of name: URI")

    def provides(self, path, value):
        if not self.object(path, value, known=value if isinstance(value, dict) else (),
                           min_properties=1):
            return
        for name, ext in value.items():
            self.term(f"{path} key {name!r}", name)
            p = f"{path}.{name}"
            if not self.object(p, ext, known=("file", "version", "abstract", "docfile", "docpath"),
                               required=("file", "version")):
                continue
            if "file" in ext:
                self.relative_path(f"{p}.file", ext["file"])
            if "version" in ext:
                self.version(f"{p}.version", ext["version"])
            if "abstract" in ext:
                self.string(f"{p}.abstract", ext["abstract"])
            if "docfile" in ext:
                self.relative_path(f"{p}.docfile", ext["docfile"])
            if "docpath" in ext:
                self.string(f"{p}.docpath", ext["docpath"])

    def meta_spec(self, path, value):
        if not self.object(path, value, known=("version", "url"), required=("version",)):
            return
        if "version" in value and not (isinstance(value["version"], str)
                                       and re.match(r"^1\.0\.\d+$", value["version"])):
            self.error(f"{path}.version", "must be 1.0.x")
        if "url" in value and value["url"] not in META_SPEC_URLS:
            self.error(f"{path}.url", f"must be one of {sorted(META_SPEC_URLS)}")

    def tags(self, path, value):
        if not isinstance(value, list) or not value:
            self.error(path, "must be a non-empty list")
            return
        for i, tag in enumerate(value):
            if not (isinstance(tag, str) and TAG_RE.match(tag)):
                self.error(f"{path}[{i}]", f"{tag!r} is not a tag: 2 to 255 characters, "
                           "no slash, backslash or control character")

    def no_index(self, path, value):
        if not self.object(path, value, known=("file", "directory"), min_properties=1):
            return
        for key in ("file", "directory"):
            if key not in value:
                continue
            items = value[key] if isinstance(value[key], list) else [value[key]]
            for i, item in enumerate(items):
                self.relative_path(f"{path}.{key}[{i}]", item)

    def prereqs(self, path, value):
        if not self.object(path, value, known=PHASES, min_properties=1):
            return
        for phase in PHASES & value.keys():
            p = f"{path}.{phase}"
            if not self.object(p, value[phase], known=RELATIONSHIPS, min_properties=1):
                continue
            for rel in RELATIONSHIPS & value[phase].keys():
                r = f"{p}.{rel}"
                if not self.object(r, value[phase][rel], known=value[phase][rel],
                                   min_properties=1):
                    continue
                for name, rng in value[phase][rel].items():
                    self.term(f"{r} key {name!r}", name)
                    self.version_range(f"{r}.{name}", rng)

    def resources(self, path, value):
        if not self.object(path, value, known=("homepage", "bugtracker", "repository"),
                           min_properties=1):
            return
        if "homepage" in value:
            self.uri(f"{path}.homepage", value["homepage"])
        bug = value.get("bugtracker")
        if bug is not None and self.object(f"{path}.bugtracker", bug, known=("web", "mailto"),
                                           min_properties=1):
            if "web" in bug:
                self.uri(f"{path}.bugtracker.web", bug["web"])
            if "mailto" in bug and not (isinstance(bug["mailto"], str)
                                        and EMAIL_RE.match(bug["mailto"])):
                self.error(f"{path}.bugtracker.mailto", "must be an email address")
        repo = value.get("repository")
        if repo is not None and self.object(f"{path}.repository", repo,
                                            known=("url", "web", "type"), min_properties=1):
            for key in ("url", "web"):
                if key in repo:
                    self.uri(f"{path}.repository.{key}", repo[key])
            if "type" in repo:
                self.term(f"{path}.repository.type", repo["type"])

    def document(self, meta):
        top = {
            "name": self.term, "version": self.version,
            "abstract": self.string, "description": self.string,
            "generated_by": self.string, "maintainer": self.maintainer,
            "license": self.license, "provides": self.provides,
            "meta-spec": self.meta_spec, "tags": self.tags,
            "no_index": self.no_index, "prereqs": self.prereqs,
            "release_status": None, "resources": self.resources,
        }
        required = ("name", "version", "abstract", "maintainer", "license", "provides",
                    "meta-spec")
        if not self.object("META", meta, known=top, required=required):
            return
        for key, check in top.items():
            if key in meta and check:
                check(key, meta[key])
        if "release_status" in meta and meta["release_status"] not in ("stable", "testing",
                                                                       "unstable"):
            self.error("release_status", "must be stable, testing or unstable")


def control_version(tree, extension):
    """default_version of EXTENSION.control in TREE, or None."""
    try:
        with open(os.path.join(tree, f"{extension}.control"), encoding="utf-8") as f:
            m = re.search(r"^default_version\s*=\s*'([^']*)'", f.read(), re.M)
        return m.group(1) if m else None
    except OSError:
        return None


def changelog_version(tree):
    """The version of debian/changelog's first entry, or None."""
    try:
        with open(os.path.join(tree, "debian", "changelog"), encoding="utf-8") as f:
            m = re.match(r"^\S+ \(([^)]*)\)", f.readline())
        return m.group(1).split("-")[0] if m else None
    except OSError:
        return None


def check_tree(c, meta, tree):
    """What the spec cannot check: the files named exist, the versions agree."""
    provides = meta.get("provides") if isinstance(meta.get("provides"), dict) else {}
    for name, ext in provides.items():
        if not isinstance(ext, dict):
            continue
        for key in ("file", "docfile"):
            if isinstance(ext.get(key), str) and not os.path.isfile(os.path.join(tree, ext[key])):
                c.error(f"provides.{name}.{key}", f"{ext[key]!r} is not a file of the tree")
        wanted = control_version(tree, name)
        if wanted is not None and ext.get("version") != wanted:
            c.error(f"provides.{name}.version",
                    f"{ext.get('version')!r}, but {name}.control says {wanted!r}")
    name = meta.get("name")
    wanted = control_version(tree, name) if isinstance(name, str) else None
    if wanted is not None and meta.get("version") != wanted:
        c.error("version", f"{meta.get('version')!r}, but {name}.control says {wanted!r}")
    deb = changelog_version(tree)
    if deb is not None and meta.get("version") != deb:
        c.error("version", f"{meta.get('version')!r}, but debian/changelog says {deb!r}")


def check(meta, tree=None):
    c = Checker()
    c.document(meta)
    if tree is not None and isinstance(meta, dict):
        check_tree(c, meta, tree)
    return c.errors


# Each case breaks a valid document in one way; each must be caught.
SELF_TEST_CASES = [
    ("no license", lambda m: m.pop("license")),
    ("no provides", lambda m: m.pop("provides")),
    ("no meta-spec", lambda m: m.pop("meta-spec")),
    ("a version that is not semantic", lambda m: m.update(version="1.0")),
    ("an unknown license", lambda m: m.update(license="postgres")),
    ("an unknown key", lambda m: m.update(homepage="https://example.org/")),
    ("a name with a space", lambda m: m.update(name="api key")),
    ("an extension without a file", lambda m: m["provides"]["apikey"].pop("file")),
    ("an extension with an unknown key", lambda m: m["provides"]["apikey"].update(doc="x.md")),
    ("meta-spec 2.0.0", lambda m: m["meta-spec"].update(version="2.0.0")),
    ("a tag with a slash", lambda m: m.update(tags=["a/b"])),
    ("an empty maintainer list", lambda m: m.update(maintainer=[])),
    ("an unknown phase", lambda m: m["prereqs"].update(install={"requires": {"x": 0}})),
    ("a bad version range", lambda m: m["prereqs"]["runtime"]["requires"].update(PostgreSQL="15")),
    ("a bad release status", lambda m: m.update(release_status="beta")),
    ("a bad homepage", lambda m: m.update(resources={"homepage": "not a uri"})),
]
SELF_TEST_VALID = {
    "name": "apikey", "abstract": "API keys", "version": "0.1.0",
    "maintainer": ["The apikey developers"], "license": "postgresql",
    "provides": {"apikey": {"file": "apikey.control", "version": "0.1.0"}},
    "prereqs": {"runtime": {"requires": {"PostgreSQL": ">= 15.0.0, < 19.0.0"}},
                "test": {"requires": {"pgTAP": 0}}},
    "meta-spec": {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"},
    "tags": ["api keys"], "release_status": "unstable", "x_note": "custom keys are allowed",
}


def self_test():
    failures = 0
    errors = check(SELF_TEST_VALID)
    print(("ok" if not errors else "not ok") + " - a valid document passes")
    failures += bool(errors)
    for label, breaks in SELF_TEST_CASES:
        meta = copy.deepcopy(SELF_TEST_VALID)
        breaks(meta)
        caught = bool(check(meta))
        print(("ok" if caught else "not ok") + f" - caught: {label}")
        failures += not caught
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("meta", nargs="?", default="META.json")
    parser.add_argument("--tree", help="the distribution's tree, for the files and versions")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return 1 if self_test() else 0
    try:
        with open(args.meta, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args.meta}: {e}", file=sys.stderr)
        return 1
    errors = check(meta, args.tree)
    for e in errors:
        print(f"{args.meta}: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"{args.meta} is valid (PGXN Meta Spec {meta['meta-spec']['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
