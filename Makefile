# apikey: PGXS build.
#
#   make && make install        build and install the extension and
#                               pg_apikey, its command-line tool
#   make installcheck           every test suite, against the installed
#                               extension and the running server that
#                               PGHOST/PGPORT name, which must preload apikey
#                               (shared_preload_libraries, see test/apikey.conf)
#   make check                  the same on temporary instances (after
#                               make install)
#   make installcheck-SUITE     one suite: regress, isolation, pgtap or tap;
#   make check-SUITE            check-SUITE on temporary instances
#   make layers                 the layering rule of doc/architecture.md:
#                               no cycle, calls and includes point down
#   make depgraph               doc/architecture-*.svg, from the object files
#                               (needs Graphviz)
#   make fuzz                   the libFuzzer harnesses, 10 million runs each
#                               (fuzz/README.md; needs clang)
#   bash scripts/test.sh        installs what is missing, builds, installs
#                               and runs make check as the postgres user
#
# Run the tests as an ordinary user: initdb and postgres refuse root.
# The version lives in apikey.control only.

EXTENSION  = apikey
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = apikey
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c src/*/*.c))
DOCS       = doc/apikey.md

# The install script is assembled from sql/src/*.sql, concatenated in name
# order, one file per topic (as pg_cron and pg_partman build theirs).  It is
# DATA_built: PGXS installs it and "make clean" removes it; it is not in git.
# It also depends on the directory, so that adding or removing a source file
# rebuilds it.  DATA is for the upgrade scripts, written by hand, and 0.1.0
# as released (its script and its control file), to update from.
SQL_SRC    = $(sort $(wildcard sql/src/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql)) \
             $(wildcard $(EXTENSION)--*.control)

PG_CPPFLAGS = -Isrc -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-sign-compare -Wno-missing-field-initializers \
              -DAPIKEY_VERSION='"$(EXTVERSION)"'
SHLIB_LINK  = -lsodium -lcrypto

# ---- Tests ----
#
# Four suites, one target each (installcheck-SUITE, check-SUITE):
#   regress    pg_regress: test/sql/NAME.sql, whose output must match
#              test/expected/NAME.out
#   isolation  pg_isolation_regress: test/isolation/specs and expected
#   pgtap      pg_prove: test/pgtap/*.sql, each in a transaction it rolls
#              back, in a database of their own
#   tap        prove: test/t/*.pl; each makes the nodes it needs, with the
#              helpers of test/perl/ApikeyTest.pm
# pg_regress makes its database afresh, with the extension; so does the
# pgtap target.  Shared memory outlives a run, though: reset_buckets runs
# first so that the regress suite passes again on the same server.
SUITES = regress isolation pgtap tap

REGRESS        = reset_buckets token lifecycle verify status security badinput check replica addresses bounds \
                 quota usage postgrest bulk bulk_import owners headers apps blocks pause
REGRESS_OPTS   = --inputdir=test --load-extension=$(EXTENSION)
ISOLATION      = revoke_across_backends limits_across_backends tenants_across_backends
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)
# test/pgtap/run.sh takes pg_regress's options; PGTAP_PROVE_FLAGS is the
# user's, for pg_prove (make PGTAP_PROVE_FLAGS=-v).
PGTAP          = $(sort $(wildcard test/pgtap/*.sql))
PGTAP_OPTS     = --bindir=$(bindir) --dbname=pgtap_regression
TAP_TESTS      = 1
# prove_installcheck runs t/*.pl unless told otherwise.  PROVE_FLAGS is the
# user's (make PROVE_FLAGS=-v) and Makefile.global empties it: "override"
# adds the shared module's directory to either.
PROVE_TESTS    = test/t/*.pl
override PROVE_FLAGS += -I test/perl

# The expected output comes from a UTF8 database with the C locale, and is
# the same with any other: TEST_LOCALE=C.UTF-8 (or another installed
# locale) runs the regress, isolation and pgtap suites with it instead.
# pg_regress has no option for a locale, only --no-locale: it takes the
# environment's for its temporary instances (make check) and the server's
# default for its databases (make installcheck).
ENCODING  = UTF8
ifdef TEST_LOCALE
export LC_ALL = $(TEST_LOCALE)
PGTAP_OPTS += --locale=$(TEST_LOCALE)
else
NO_LOCALE = 1
endif

# PGXS's installcheck runs three of the suites and stops at the first
# failure; ours, below, runs all four and then says which failed.
NO_INSTALLCHECK = 1

# TEMP_INSTANCE=1 (what make check sets) puts the suites on temporary
# instances, each with test/apikey.conf, a unix socket in a private
# directory and no TCP; TEMP_PORT, if set, is their port number.
# pg_regress's goes in tmp_regress: prove_installcheck deletes tmp_check.
# The TAP tests make their own nodes either way.
ifdef TEMP_INSTANCE
TEMP_OPTS       = --temp-config=test/apikey.conf $(if $(TEMP_PORT),--port=$(TEMP_PORT))
REGRESS_OPTS   += --temp-instance=./tmp_regress $(TEMP_OPTS)
ISOLATION_OPTS += --temp-instance=./tmp_check_iso $(TEMP_OPTS)
PGTAP_OPTS     += --temp-instance=./tmp_pgtap $(TEMP_OPTS)
endif

EXTRA_CLEAN = tmp_regress tmp_pgtap

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# make check: pgxs.mk defines check itself, for an extension built outside
# the PostgreSQL tree, as a message that it is not supported, and a second
# recipe here would draw make's "overriding recipe" warning.  So when a
# check goal is asked for, this make does not include pgxs.mk at all: it
# runs make again for the matching installcheck goal with TEMP_INSTANCE=1,
# and that make includes pgxs.mk as usual.
CHECK_GOALS = $(filter check $(addprefix check-,$(SUITES)),$(MAKECMDGOALS))
ifeq ($(MAKECMDGOALS),dist)
# make dist needs no PostgreSQL
else ifeq ($(CHECK_GOALS),)
include $(PGXS)
# The versions apikey supports (src/compat.h and cli/compat.h say the same).
ifeq ($(filter 15 16 17 18,$(MAJORVERSION)),)
$(error apikey supports PostgreSQL 15 to 18, and $(PG_CONFIG) is $(VERSION): choose another with PG_CONFIG=.../pg_config)
endif
else
ifneq ($(CHECK_GOALS),$(MAKECMDGOALS))
$(error run "make $(CHECK_GOALS)" on its own, after "make install")
endif
$(CHECK_GOALS):
	@$(MAKE) --no-print-directory $(subst check,installcheck,$@) TEMP_INSTANCE=1
.PHONY: $(CHECK_GOALS)
endif

$(DATA_built): $(SQL_SRC) sql/src
	cat $(SQL_SRC) >$@.tmp && mv $@.tmp $@

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h src/*/*.h)

# The layering of doc/architecture.md, checked on the object files: no
# cycle among them, calls and includes that point down only.
layers: all
	python3 scripts/depgraph.py

# The pictures of doc/architecture.md, drawn from the object files.
depgraph: all
	python3 scripts/depgraph.py --dot doc/architecture-modules.dot \
		--layers-dot doc/architecture-layers.dot
	dot -Tsvg doc/architecture-modules.dot -o doc/architecture-modules.svg
	dot -Tsvg doc/architecture-layers.dot -o doc/architecture-layers.svg
	rm doc/architecture-modules.dot doc/architecture-layers.dot

.PHONY: layers depgraph

# libFuzzer harnesses of the token parser, the rate-limit JSON parser, the
# scope matcher and the address parser (fuzz/README.md): FUZZ_RUNS
# executions each (10 million by default); needs clang with libFuzzer.
FUZZ_RUNS ?= 10000000
fuzz:
	$(MAKE) -C fuzz run PG_CONFIG=$(PG_CONFIG) FUZZ_RUNS=$(FUZZ_RUNS) \
		$(if $(CLANG),CLANG=$(CLANG))

.PHONY: fuzz

# The release tarball, for PGXN and packagers: apikey-VERSION.tar.gz, the
# committed tree (git archive: what is not committed is left out, and so
# is what .gitattributes marks export-ignore), whose META.json must pass
# scripts/check-meta.py, the spec's rules and the tree's.
DISTNAME = $(EXTENSION)-$(EXTVERSION)
dist:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || \
		{ echo "make dist needs a git checkout" >&2; exit 1; }
	@git diff --quiet HEAD -- || \
		echo "warning: changes not committed are not in $(DISTNAME).tar.gz" >&2
	git archive --format=tar.gz --prefix=$(DISTNAME)/ -o $(DISTNAME).tar.gz HEAD
	@rm -rf $(DISTNAME).check && mkdir $(DISTNAME).check && \
		tar -xzf $(DISTNAME).tar.gz -C $(DISTNAME).check && \
		python3 scripts/check-meta.py --tree $(DISTNAME).check/$(DISTNAME) \
			$(DISTNAME).check/$(DISTNAME)/META.json; \
		status=$$?; rm -rf $(DISTNAME).check; \
		if [ $$status != 0 ]; then rm -f $(DISTNAME).tar.gz; exit 1; fi
	@echo $(DISTNAME).tar.gz
.PHONY: dist

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

# Every suite, in this order, even after one failed.
installcheck:
	@failed=; for suite in $(SUITES); do \
		$(MAKE) --no-print-directory installcheck-$$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed suites:$$failed"; exit 1; fi

installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

installcheck-tap:
	$(prove_installcheck)

installcheck-pgtap:
	bash test/pgtap/run.sh $(PGTAP_OPTS) $(PGTAP_PROVE_FLAGS) $(PGTAP)

.PHONY: installcheck $(addprefix installcheck-,$(SUITES))
