# lext - build with `make`; `make test` runs the whole suite.
#
# Options: NO_OMP=1 (no OpenMP), ARCH=... (default -march=native), DEBUG=1 (-O0 -g),
#          CC=clang. OpenBLAS: the OpenMP build (Debian libopenblas-openmp-dev) is preferred,
#          so that BLAS and lext's own loops share one thread pool; any other libopenblas works.

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O3
# -fno-trapping-math and -fno-math-errno change no result: they let GCC if-convert and
# vectorize loops with float compares (vmath.h) and inline sqrtf. No -ffast-math.
CFLAGS  ?= $(OPT) $(ARCH) -g -fno-trapping-math -fno-math-errno
WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
CPPFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc
LDLIBS   = -lcjson -lcrypto -lm

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BLAS_OMP_INC := /usr/include/$(MULTIARCH)/openblas-openmp
BLAS_OMP_LIB := /usr/lib/$(MULTIARCH)/openblas-openmp

ifeq ($(DEBUG),1)
  OPT = -O0
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

ifneq ($(wildcard $(BLAS_OMP_LIB)/libopenblas.so),)
  CPPFLAGS += -I$(BLAS_OMP_INC)
  LDLIBS   += -L$(BLAS_OMP_LIB) -Wl,-rpath,$(BLAS_OMP_LIB) -lopenblas
  $(info lext: OpenBLAS (OpenMP build) found)
else
  LDLIBS   += -lopenblas
  $(info lext: OpenBLAS found, but not its OpenMP build: BLAS threads and lext threads are separate pools)
endif

LIB_SRC  := $(wildcard src/*.c)
CLI_SRC  := $(wildcard cli/*.c)
LIB_OBJ  := $(LIB_SRC:src/%.c=build/src/%.o)
CLI_OBJ  := $(CLI_SRC:cli/%.c=build/cli/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=build/tests/%)
TOOL_SRC := $(wildcard tests/tool_*.c)
TOOL_BIN := $(TOOL_SRC:tests/%.c=build/tests/%)

.PHONY: all test clean lib
all: lext $(TEST_BIN) $(TOOL_BIN)

lib: build/liblext.a

build/liblext.a: $(LIB_OBJ)
	ar rcs $@ $^

build/src/%.o: src/%.c include/lext.h $(wildcard src/*.h) | build/src
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

build/cli/%.o: cli/%.c include/lext.h $(wildcard cli/*.h) | build/cli
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Icli -c $< -o $@

lext: $(CLI_OBJ) build/liblext.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

build/tests/%: tests/%.c tests/harness.h build/liblext.a | build/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itests $< build/liblext.a -o $@ $(LDFLAGS) $(LDLIBS)

build/src build/cli build/tests:
	mkdir -p $@

test: all
	./tests/run.sh

clean:
	rm -rf build lext
