# apikey: PGXS build.
#
#   make && make install                    build and install the extension
#                                           and pg_apikey, its command-line tool
#   make installcheck                       pg_regress + isolation suites against a
#                                           running server preloaded with apikey
#   bash scripts/test.sh                    everything, on a throwaway cluster
#
# The version lives in apikey.control only.

EXTENSION  = apikey
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = apikey
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c src/*/*.c))
DATA       = $(wildcard sql/$(EXTENSION)--*.sql)
DOCS       = doc/apikey.md

PG_CPPFLAGS = -Isrc -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-sign-compare -Wno-missing-field-initializers \
              -DAPIKEY_VERSION='"$(EXTVERSION)"'
SHLIB_LINK  = -lsodium

# pg_regress suites (sql/<name>.sql, expected/<name>.out).  They need a
# server started with shared_preload_libraries = 'apikey' (see apikey.conf).
REGRESS      = token lifecycle verify security badinput check quota usage postgrest bulk
REGRESS_OPTS = --inputdir=. --load-extension=apikey

# Concurrency specs (test/isolation/specs, test/isolation/expected).
ISOLATION      = revoke_across_backends limits_across_backends
ISOLATION_OPTS = --inputdir=test/isolation

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

EXTRA_CLEAN = results regression.diffs regression.out output_iso tmp_check

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h src/*/*.h)

# The command-line tool, cli/ (pg_apikey): PGXS builds a MODULE_big or a
# PROGRAM per makefile, so it has its own, run from these targets.
all: cli
install: install-cli
installdirs: installdirs-cli
uninstall: uninstall-cli
clean: clean-cli
install-cli: cli
cli:
	$(MAKE) -C cli all
install-cli installdirs-cli uninstall-cli clean-cli:
	$(MAKE) -C cli $(@:-cli=)
.PHONY: cli install-cli installdirs-cli uninstall-cli clean-cli

# Lists the suites, for scripts/test.sh.
print-%:
	@echo $($*)
