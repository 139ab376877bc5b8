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
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
DOCS       = doc/apikey.md

# The install script is assembled from sql/src/*.sql, concatenated in name
# order, one file per topic (as pg_cron and pg_partman build theirs).  It is
# DATA_built: PGXS installs it and "make clean" removes it; it is not in git.
# It also depends on the directory, so that adding or removing a source file
# rebuilds it.  DATA is for the upgrade scripts, which are written by hand.
SQL_SRC    = $(sort $(wildcard sql/src/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

PG_CPPFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
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

$(DATA_built): $(SQL_SRC) sql/src
	cat $(SQL_SRC) >$@.tmp && mv $@.tmp $@

# PGXS tracks no header dependencies: every object depends on the shared ones.
$(OBJS) $(OBJS:.o=.bc): src/apikey.h src/compat.h

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
