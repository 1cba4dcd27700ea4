# lext - build with `make`; `make test` runs the whole suite.
#
# Options: NO_OMP=1 (no OpenMP), ARCH=... (default -march=native), DEBUG=1 (-O0 -g),
#          CC=clang, SANITIZE=address|fuzzer (see `make asan`, `make fuzz`), BUILD=dir
#          (objects, library and test programs [build]), BIN=path (the CLI [lext]).
#          BLAS=onednn (default) or BLAS=openblas: the matrix-product engine (src/gemm.h).
#          oneDNN (Debian libdnnl-dev) is built on OpenMP, the pool lext's own loops use.
#          OpenBLAS: the OpenMP build (Debian libopenblas-openmp-dev) is preferred, so that
#          BLAS and lext's own loops share one thread pool; any other libopenblas works.
#
# Targets: all, test, asan (the suite under ASan + UBSan), fuzz (FUZZ_SECONDS per target),
#          valgrind (memcheck of the main commands), lint (cppcheck), bench, bench-smoke, clean.

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O3
# `make asan` and `make fuzz` build into their own BUILD directory, so a sanitized or
# instrumented build never replaces the objects of the normal one.
BUILD   ?= build
BIN     ?= lext
# -fno-trapping-math and -fno-math-errno change no result: they let GCC if-convert and
# vectorize loops with float compares (vmath.h) and inline sqrtf. -ffp-contract=fast fuses
# a*b+c into one FMA (one rounding instead of two: deterministic, and what GNU C does by
# default; -std=c11 alone turns it off and halves the kernels' throughput). No -ffast-math.
CFLAGS  ?= $(OPT) $(ARCH) -g -fno-trapping-math -fno-math-errno -ffp-contract=fast
WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
CPPFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc
LDLIBS   = -lcjson -lcrypto -lm

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BLAS_OMP_INC := /usr/include/$(MULTIARCH)/openblas-openmp
BLAS_OMP_LIB := /usr/lib/$(MULTIARCH)/openblas-openmp

ifeq ($(DEBUG),1)
  OPT = -O0
endif

# AddressSanitizer + UndefinedBehaviorSanitizer; any report is fatal (no recovery), so a
# test cannot pass over one. `fuzzer` adds libFuzzer's coverage instrumentation (clang).
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ifeq ($(SANITIZE),address)
  CFLAGS  += $(SAN_FLAGS)
  LDFLAGS += $(SAN_FLAGS)
else ifeq ($(SANITIZE),fuzzer)
  CFLAGS  += $(SAN_FLAGS) -fsanitize=fuzzer-no-link
  LDFLAGS += $(SAN_FLAGS)
endif
# clang cannot vectorize a few `omp simd` loops once they are instrumented, and says so:
# expected in these builds only, where speed is not the point
ifneq ($(SANITIZE),)
  ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
    WARN += -Wno-pass-failed
  endif
endif

ifneq ($(NO_OMP),1)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo ok),ok)
    CFLAGS += -fopenmp
    LDFLAGS += -fopenmp
    $(info lext: OpenMP found)
  else
    CFLAGS += -fopenmp-simd
    $(info lext: no OpenMP, building single-threaded loops)
  endif
else
  CFLAGS += -fopenmp-simd
endif

BLAS ?= onednn
ifeq ($(BLAS),onednn)
  LDLIBS   += -ldnnl -pthread
  $(info lext: matrix products on oneDNN)
else ifeq ($(BLAS),openblas)
  CPPFLAGS += -DLEXT_BLAS_OPENBLAS
  ifneq ($(wildcard $(BLAS_OMP_LIB)/libopenblas.so),)
    CPPFLAGS += -I$(BLAS_OMP_INC)
    LDLIBS   += -L$(BLAS_OMP_LIB) -Wl,-rpath,$(BLAS_OMP_LIB) -lopenblas -pthread
    $(info lext: matrix products on OpenBLAS (OpenMP build))
  else
    LDLIBS   += -lopenblas -pthread
    $(info lext: matrix products on OpenBLAS, but not its OpenMP build: BLAS threads and lext threads are separate pools)
  endif
else
  $(error BLAS must be onednn or openblas, not '$(BLAS)')
endif

# MPI (OpenMPI's mpicc): `mpirun -np P lext train` trains data-parallel (cli/parallel.c).
# Detected like OpenMP, for the CLI only (the library takes the exchange as lext_comm);
# MPI=0 builds without it, and a launch with more ranks is then refused with a message.
ifneq ($(MPI),0)
  MPI_CFLAGS := $(shell mpicc -showme:compile 2>/dev/null)
  MPI_LIBS   := $(shell mpicc -showme:link 2>/dev/null)
  ifneq ($(MPI_LIBS),)
    CLI_MPI := -DLEXT_MPI $(MPI_CFLAGS)
    $(info lext: MPI found (mpirun -np P lext train))
  else
    MPI_LIBS :=
  endif
endif

LIB_SRC  := $(wildcard src/*.c)
CLI_SRC  := $(wildcard cli/*.c)
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
CLI_OBJ  := $(CLI_SRC:cli/%.c=$(BUILD)/cli/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tool_*.c)
TOOL_BIN := $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)
# Fuzz harnesses (fuzz/README.md): each builds as a libFuzzer target (`make fuzz`) and, in
# every normal build, as a replayer of saved inputs (tests/test_fuzz_regressions.sh).
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)

.PHONY: all test clean lib asan fuzz fuzz-build valgrind lint bench bench-smoke bench-bin bench-openblas
all: $(BIN) $(TEST_BIN) $(TOOL_BIN) $(REPLAY_BIN)

lib: $(BUILD)/liblext.a

$(BUILD)/liblext.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/src/%.o: src/%.c include/lext.h $(wildcard src/*.h) | $(BUILD)/src
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(BUILD)/cli/%.o: cli/%.c include/lext.h $(wildcard cli/*.h) | $(BUILD)/cli
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Icli -c $< -o $@

$(BUILD)/cli/parallel.o: cli/parallel.c include/lext.h $(wildcard cli/*.h) | $(BUILD)/cli
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Icli $(CLI_MPI) -c $< -o $@

$(BIN): $(CLI_OBJ) $(BUILD)/liblext.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/tests/%: tests/%.c tests/harness.h $(BUILD)/liblext.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itests $< $(BUILD)/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

# the harnesses of the CLI's parsers link these of its objects (parsers and option tables)
FUZZ_CLI := $(BUILD)/cli/args.o $(BUILD)/cli/evalopts.o $(BUILD)/cli/trainopts.o $(BUILD)/cli/genopts.o

$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/fuzz.h $(BUILD)/liblext.a $(FUZZ_CLI) | $(BUILD)/fuzz
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Icli -DLEXT_FUZZ_REPLAY $< $(FUZZ_CLI) $(BUILD)/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(BUILD)/liblext.a $(FUZZ_CLI) | $(BUILD)/fuzz
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Icli -fsanitize=fuzzer $< $(FUZZ_CLI) $(BUILD)/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

# The kernel lab (dev/): programs that time single kernels while they are being improved.
build/dev/%: dev/%.c build/liblext.a | build/dev
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $< build/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/src $(BUILD)/cli $(BUILD)/tests $(BUILD)/fuzz $(BUILD)/bench build/dev:
	mkdir -p $@

# Benchmark harness (bench/README.md): lext against a PyTorch model of the same shape.
# `make bench` takes several minutes on a quiet machine; `make bench-smoke` is a
# seconds-long run of every path for CI (fails only if something fails to run).
# The harness also times lext built on OpenBLAS (build-openblas/), the engine it replaced.
PYTHON    ?= /usr/bin/python3
BENCH_BIN := $(BUILD)/bench/bench_lext $(BUILD)/bench/sgemm_peak

$(BUILD)/bench/%: bench/%.c $(BUILD)/liblext.a | $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $< $(BUILD)/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

bench-bin: $(BENCH_BIN)

bench-openblas:
	$(MAKE) BLAS=openblas BUILD=build-openblas BIN=build-openblas/lext bench-bin

bench: $(BENCH_BIN) bench-openblas
	$(PYTHON) bench/run.py

bench-smoke: $(BENCH_BIN) bench-openblas
	$(PYTHON) bench/run.py --smoke

test: all
	./tests/run.sh

# The whole suite again against a copy built with ASan + UBSan in build-asan/ (the normal
# build is untouched); tests/sanitize.sh sets the sanitizer options and fails on any report.
asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/lext SANITIZE=address OPT=-O1 all
	LEXT_BUILD=build-asan LEXT_BIN=build-asan/lext ./tests/sanitize.sh

# libFuzzer targets (clang) in build-fuzz/, each run for FUZZ_SECONDS on its committed
# corpus (fuzz/README.md). Single-threaded: OpenMP adds nothing to a fuzzer but noise.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz SANITIZE=fuzzer NO_OMP=1 OPT=-O1 fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh

fuzz-build: $(FUZZ_SRC:fuzz/fuzz_%.c=$(BUILD)/fuzz/fuzz_%)

# Valgrind memcheck over a short train, eval, resolution and generate (tests/valgrind.sh);
# not part of `make test`: it takes a few minutes. Its own build in build-valgrind/, without
# AVX-512 (valgrind does not decode it; -march=native may choose it).
valgrind:
	$(MAKE) BUILD=build-valgrind BIN=build-valgrind/lext ARCH="-march=native -mno-avx512f" OPT=-O1 all
	LEXT_BIN=build-valgrind/lext ./tests/valgrind.sh

# Static analysis of the library and the CLI: cppcheck's warning, performance and
# portability checks; any finding fails. The few false positives are suppressed where they
# occur (// cppcheck-suppress, with the reason beside it); duplicateAssignExpression flags
# `ldq = 3 * D, ldk = 3 * D`, two strides that are equal by the layout, not by mistake.
lint:
	cppcheck --enable=warning,performance,portability --std=c11 --inline-suppr --quiet \
	    --suppress=duplicateAssignExpression --error-exitcode=1 -Iinclude -Isrc -Icli src cli

clean:
	rm -rf build build-asan build-fuzz build-valgrind build-openblas lext

# ---------------------------------------------------------------------------------------
# Shared library and installation (README, "Installing").
#
# build/liblext.so.MAJOR.MINOR (soname liblext.so.MAJOR, with the two usual symlinks) is
# built from its own position-independent objects with -fvisibility=hidden, so it exports
# only the functions lext.h marks LEXT_API; the version comes from lext.h alone. It is left
# out of the sanitizer and fuzzer builds, which only test the static library.
#   make install [PREFIX=/usr/local] [DESTDIR=...]   make uninstall (the same variables)
# lext.pc's Libs.private are this Makefile's own link flags (LDFLAGS, LDLIBS), so that a
# static link (pkg-config --static) follows the matrix-product engine the build chose.
# ---------------------------------------------------------------------------------------
LEXT_VERSION_OF = $(shell sed -n 's/^\#define LEXT_VERSION$(1) \(.*\)$$/\1/p' include/lext.h)
VERSION       := $(subst ",,$(call LEXT_VERSION_OF,))
VERSION_MAJOR := $(call LEXT_VERSION_OF,_MAJOR)
VERSION_MINOR := $(call LEXT_VERSION_OF,_MINOR)
SONAME        := liblext.so.$(VERSION_MAJOR)
SHLIB_NAME    := liblext.so.$(VERSION_MAJOR).$(VERSION_MINOR)
SHLIB         := $(BUILD)/$(SHLIB_NAME)
PIC_OBJ       := $(LIB_SRC:src/%.c=$(BUILD)/pic/%.o)
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
LIBDIR        ?= $(PREFIX)/lib
INCLUDEDIR    ?= $(PREFIX)/include
MANDIR        ?= $(PREFIX)/share/man
PKGCONFIGDIR  ?= $(LIBDIR)/pkgconfig

.PHONY: shared install uninstall man
shared: $(SHLIB) $(BUILD)/liblext.so $(BUILD)/$(SONAME)
ifeq ($(SANITIZE),)
all: shared $(BUILD)/lext.pc $(BUILD)/lext.1
endif

$(BUILD)/pic/%.o: src/%.c include/lext.h $(wildcard src/*.h) | $(BUILD)/pic
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -c $< -o $@

$(SHLIB): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/$(SONAME) $(BUILD)/liblext.so: $(SHLIB)
	ln -sf $(SHLIB_NAME) $@

$(BUILD)/pic:
	mkdir -p $@

$(BUILD)/lext.pc: Makefile include/lext.h | $(BUILD)/src
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: lext' \
	    'Description: small byte-level causal transformer language models (XPOS, RoPE, ALiBi, ...)' \
	    'Version: $(VERSION)' \
	    'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -llext' \
	    'Libs.private: $(strip $(LDFLAGS) $(LDLIBS))' > $@

# The man page is made from the tool's own --help texts, so it cannot drift from them.
$(BUILD)/lext.1: $(BIN) scripts/man.sh
	scripts/man.sh $(abspath $(BIN)) $(VERSION) > $@.tmp && mv $@.tmp $@

man: $(BUILD)/lext.1

install: $(BIN) $(BUILD)/liblext.a shared $(BUILD)/lext.pc $(BUILD)/lext.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/lext
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SHLIB_NAME)
	ln -sf $(SHLIB_NAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/liblext.so
	install -m 644 $(BUILD)/liblext.a $(DESTDIR)$(LIBDIR)/liblext.a
	install -m 644 include/lext.h $(DESTDIR)$(INCLUDEDIR)/lext.h
	install -m 644 $(BUILD)/lext.pc $(DESTDIR)$(PKGCONFIGDIR)/lext.pc
	install -m 644 $(BUILD)/lext.1 $(DESTDIR)$(MANDIR)/man1/lext.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lext $(DESTDIR)$(LIBDIR)/$(SHLIB_NAME) \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/liblext.so \
	    $(DESTDIR)$(LIBDIR)/liblext.a $(DESTDIR)$(INCLUDEDIR)/lext.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/lext.pc $(DESTDIR)$(MANDIR)/man1/lext.1
