# kdl - Keras-style model definitions compiled to standalone C.
#
#   make            build build/kdlc
#   make demo       check the examples, train examples/digits_cnn.kdl on the UCI digits (README)
#   make check      run the whole test suite (README's second command); SAN=1 for ASan+UBSan
#   make clean
#
# Generated lexer/parser sources and objects go to $(B) (build/, or build/san
# with SAN=1 so sanitized and plain objects never mix).

CC      ?= cc
SAN     ?= 0
export SAN NO_BLAS      # tests/run-tests.sh builds test programs with the same flags
B       := build
CFLAGS  := -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wno-unused-parameter -Iinclude \
           -Werror=incompatible-pointer-types -Werror=implicit-function-declaration \
           -Werror=int-conversion
LDFLAGS := -lm
ifeq ($(SAN),1)
B       := build/san
CFLAGS  := $(filter-out -O2,$(CFLAGS)) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# The runtime: OpenBLAS through pkg-config, or the portable GEMM with NO_BLAS=1.
NO_BLAS ?= 0
ifeq ($(NO_BLAS),1)
B       := $(B)/noblas
RT_CFLAGS := -DKDL_NO_BLAS
RT_LIBS :=
else
RT_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
RT_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif

COMPILER_SRCS := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
COMPILER_OBJS := $(COMPILER_SRCS:compiler/%.c=$(B)/%.o) $(B)/lexer.o $(B)/parser.o
KDLC          := $(B)/kdlc

.PHONY: all demo check clean deps install
all: $(KDLC)

deps:
	@sh .ci/deps.sh

$(B):
	@mkdir -p $(B)

$(B)/parser.c $(B)/parser.h: compiler/parser.y | $(B)
	bison -Wall -Werror -d -o $(B)/parser.c compiler/parser.y

$(B)/lexer.c $(B)/lexer.h: compiler/lexer.l | $(B)
	flex --header-file=$(B)/lexer.h -o $(B)/lexer.c compiler/lexer.l

# The generated scanner is not written for -Wpedantic/-Wshadow cleanliness
# of our own code; its warnings are the flex skeleton's, so it gets -w-free
# but relaxed flags (still -Wall -Wextra, no warnings allowed).
$(B)/lexer.o: $(B)/lexer.c $(B)/parser.h compiler/kdlc.h
	$(CC) $(filter-out -Wmissing-prototypes -Wshadow,$(CFLAGS)) -Wno-sign-compare \
	    -Wno-unused-function -Icompiler -I$(B) -c $< -o $@

$(B)/parser.o: $(B)/parser.c $(B)/lexer.h compiler/kdlc.h
	$(CC) $(CFLAGS) -Icompiler -I$(B) -c $< -o $@

$(B)/%.o: compiler/%.c $(wildcard compiler/*.h) compiler/activations.def include/kdl.h | $(B)
	$(CC) $(CFLAGS) -Icompiler -I$(B) -c $< -o $@

$(B)/main.o $(B)/parse_glue.o: $(B)/parser.h $(B)/lexer.h
# kdlc build links programs the way this runtime was built.
$(B)/main.o: CFLAGS += -DKDL_LINK_FLAGS='"$(RT_LIBS) -lm $(LDFLAGS)"'

RUNTIME_SRCS := $(wildcard runtime/*.c)
RUNTIME_OBJS := $(RUNTIME_SRCS:runtime/%.c=$(B)/rt/%.o)

$(B)/rt:
	@mkdir -p $(B)/rt

# Kernels are built at -O3: GCC 12 vectorises loops of unknown length only
# there (measured 2-6x on activations, normalization and merges).
RT_OPT := $(if $(filter 1,$(SAN)),,-O3)
$(B)/rt/%.o: runtime/%.c include/kdl.h $(wildcard runtime/*.h) | $(B)/rt
	$(CC) $(CFLAGS) $(RT_OPT) $(RT_CFLAGS) -Iinclude -Iruntime -c $< -o $@

# The optimizers' sqrtf vectorises only without errno (measured 1.7x on the
# digits MLP's training step); results are the same (sqrt sets no errno on
# the non-negative values the optimizers take).
$(B)/rt/optim.o: RT_CFLAGS += -fno-math-errno

$(B)/libkdlrt.a: $(RUNTIME_OBJS)
	ar rcs $@ $^

# Runtime unit tests (tests/runtime/test_*.c) link the runtime library.
$(B)/rt_test_%: tests/runtime/test_%.c $(B)/libkdlrt.a include/kdl.h $(wildcard tests/runtime/*.h)
	$(CC) $(CFLAGS) -Iinclude -Itests/runtime $< $(B)/libkdlrt.a -o $@ $(RT_LIBS) $(LDFLAGS)

# kdlc prints summaries with the runtime's renderer (runtime/summary.c, which
# reports errors with runtime/error.c) and plans arenas and conv lengths with
# runtime/shape.c, as generated code does; no BLAS.
$(B)/libkdlc.a: $(COMPILER_OBJS) $(B)/rt/summary.o $(B)/rt/error.o $(B)/rt/shape.o
	ar rcs $@ $^

$(KDLC): $(B)/main.o $(B)/libkdlc.a $(if $(RUNTIME_SRCS),$(B)/libkdlrt.a)
	$(CC) $(CFLAGS) $(B)/main.o $(B)/libkdlc.a -o $@ $(LDFLAGS)

# Test helpers that link the compiler in-process (prefix fuzzing).
$(B)/prefix_check: tests/tools/prefix_check.c $(B)/libkdlc.a compiler/kdlc.h
	$(CC) $(CFLAGS) -Icompiler $< $(B)/libkdlc.a -o $@ $(LDFLAGS)

# Compares .npy outputs with reference fixtures (tests/e2e).
$(B)/npycmp: tests/tools/npycmp.c $(B)/libkdlrt.a include/kdl.h
	$(CC) $(CFLAGS) -Iinclude $< $(B)/libkdlrt.a -o $@ $(RT_LIBS) $(LDFLAGS)

# Compares safetensors weights (trained) with reference fixtures (tests/train).
$(B)/stcmp: tests/tools/stcmp.c $(B)/libkdlrt.a include/kdl.h
	$(CC) $(CFLAGS) -Iinclude -Iruntime $< $(B)/libkdlrt.a -o $@ $(RT_LIBS) $(LDFLAGS)

# Unit tests (tests/unit/test_*.c) link the compiler library.
$(B)/test_%: tests/unit/test_%.c $(B)/libkdlc.a compiler/kdlc.h runtime/internal.h
	$(CC) $(CFLAGS) -Icompiler -Iruntime $< $(B)/libkdlc.a -o $@ $(LDFLAGS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh $(KDLC)

check: deps
	@$(MAKE) --no-print-directory all $(B)/prefix_check $(B)/npycmp $(if $(wildcard tests/tools/stcmp.c),$(B)/stcmp)
	@bash tests/run-tests.sh $(B)

# make install PREFIX=/usr/local: kdlc, libkdlrt.a, kdl.h and kdl.pc
# (pkg-config --cflags --libs kdl gives what a generated model needs).
PREFIX ?= /usr/local
install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	cp $(KDLC) $(DESTDIR)$(PREFIX)/bin/kdlc
	cp $(B)/libkdlrt.a $(DESTDIR)$(PREFIX)/lib/libkdlrt.a
	cp include/kdl.h $(DESTDIR)$(PREFIX)/include/kdl.h
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: kdl\nDescription: kdl runtime for models compiled by kdlc\nVersion: 0.1.0\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lkdlrt %s -lm\n' \
	    '$(PREFIX)' '$(RT_LIBS)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kdl.pc

clean:
	rm -rf build

# make bench: time the reference models of tests/bench/ (inference: batch-1 latency,
# batch-256 throughput; training: samples/s; 1 and 2 threads) against PyTorch when /usr/bin/python3
# has torch; see tests/bench/run.sh and docs/performance.md. Not part of check.
# run.sh builds kdlc and the runtime itself, never sanitized (NO_BLAS=1 is honoured).
.PHONY: bench
bench:
	@bash tests/bench/run.sh
