# ctrace — top-level build.  `make` builds build/ctrace and the libraries; `make
# test` installs missing Debian packages, builds and runs the test suite; `make
# demo` runs the demo.
# Every src/<module>/*.c except src/cli goes into build/libctrace.a (static, the
# CLI and tests link it); the core modules (no cairo: models, ops, forward,
# tokenizer, noise, trace) also make build/libctrace.so, which exports only the
# functions include/ctrace.h marks CT_API; the application modules (experiment,
# report) make build/libctrace_app.so on top of it (include/ctrace_app.h's CT_API
# functions, for bindings: python/ctrace's run()).  Every tests/test_*.c becomes one test
# program linked against the static library.
# The test fixtures live in tests/fixtures (large text files xz-compressed);
# `make fixtures` lays them out, decompressed, in build/fixtures, where the
# tests read them (tests/fixtures/MANIFEST.md says where each one came from).

CC      ?= cc
OPT     ?= -O2 -march=native
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers -g $(OPT) -fopenmp -fPIC \
           -fvisibility=hidden -Iinclude -Isrc \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread
CORE_LIBS = -lopenblas -lcjson -lonig -lutf8proc -lm -lpthread -fopenmp
LDLIBS  += $(CORE_LIBS) -lcairo
# oneDNN (Debian's libdnnl-dev, which `make deps` installs) for the "cpu"
# backend's products; DNNL=0, or a machine without it, builds the OpenBLAS
# products alone (`ctrace info` says which).
DNNL    ?= $(if $(wildcard /usr/include/oneapi/dnnl/dnnl.h),1,0)
ifeq ($(DNNL),1)
CFLAGS    += -DCT_HAVE_DNNL
CORE_LIBS += -ldnnl
endif
# CUDA=1 adds the "cuda" backend (src/ops/cuda/*.cu, nvcc + cuBLAS, for
# sm_80 and sm_90): `make CUDA=1`, `make CUDA=1 test-cuda` and `make CUDA=1
# bench-cuda` (the last two need a GPU; scripts/gpu-check.sh runs both).  The
# default build never looks for nvcc.  NOT YET RUN ON A GPU (docs/ops.md).
CUDA    ?= 0
ifeq ($(CUDA),1)
BUILD   ?= build-cuda
else
BUILD   ?= build
endif
NVCC    ?= nvcc
CUDA_HOME ?= /usr/local/cuda
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCCFLAGS ?= -std=c++17 -O2 -g $(NVCC_ARCH) -Xcompiler -Wall,-Wextra,-Wno-missing-field-initializers,-fPIC,-fvisibility=hidden \
             -Werror all-warnings -Iinclude -Isrc
CU_SRC  := $(if $(filter 1,$(CUDA)),$(wildcard src/ops/cuda/*.cu))
ifeq ($(CUDA),1)
CFLAGS    += -DCT_HAVE_CUDA -I$(CUDA_HOME)/include
NVCCFLAGS += -DCT_HAVE_CUDA
CORE_LIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif
# The sanitizer build uses clang when it is installed: its float-cast-overflow
# check reports out-of-range float->int casts (1e20 -> int) that gcc's misses.
ASAN_CC  ?= $(shell command -v clang >/dev/null 2>&1 && echo clang || echo $(CC))
SAN_FLAGS = -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -Wno-pass-failed \
            -fno-sanitize-recover=undefined,float-cast-overflow

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
APP_DIRS := experiment report
CORE_SRC := $(filter-out $(APP_DIRS:%=src/%/%),$(LIB_SRC))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
APP_OBJ  := $(filter-out $(CORE_OBJ),$(LIB_OBJ))
# The core's internal helpers the application layer calls (hidden in
# libctrace.so): linked into libctrace_app.so privately (--exclude-libs).
APP_PRIV_OBJ := $(addprefix $(BUILD)/obj/src/,common/file.o common/json.o trace/settings.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
HEADERS  := $(wildcard include/*.h src/*/*.h tests/*.h)
# Every file under tests/fixtures but the manifest, NAME.xz becoming NAME.
FIX_SRC  := $(filter-out tests/fixtures/MANIFEST.md,$(shell find tests/fixtures -type f))
FIX_OUT  := $(patsubst tests/fixtures/%,$(BUILD)/fixtures/%,$(FIX_SRC:.xz=))

# Fuzz targets (tests/fuzz/fuzz_*.c): libFuzzer builds with clang under
# $(BUILD)/fuzz (`make fuzz`), and replay builds (a small main feeding the seed
# corpus once) with $(CC) under $(BUILD)/fuzz-replay, which `make test` runs.
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_CC     ?= clang
FUZZ_FLAGS   = -g -O1 -Wno-pass-failed -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
REPLAY_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
FUZZ_SECONDS ?= 600
# `make check` also builds the libFuzzer targets, so that tests/cli/fuzz_smoke.sh
# fuzzes each for a few seconds, when clang's -fsanitize=fuzzer works (probed
# only for check/test); FUZZ_SMOKE=0 leaves it at replaying the seeds.
ifneq ($(filter check test,$(MAKECMDGOALS)),)
FUZZ_SMOKE ?= $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' | \
    $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo 1)
endif
SMOKE_BIN   := $(if $(filter 1,$(FUZZ_SMOKE)),$(FUZZ_BIN))

.PHONY: all test check asan deps demo bench clean fixtures fuzz fuzz-build
all: $(BUILD)/ctrace $(BUILD)/libctrace.so $(BUILD)/libctrace_app.so

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The attention kernel is written for fused multiply-adds (ISO C mode leaves
# a·b + c unfused otherwise); its results are still fixed by the build.
$(BUILD)/obj/src/ops/cpu_attention.o: CFLAGS += -ffp-contract=fast

$(BUILD)/obj/%.o: %.cu $(HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# Fixtures: compressed ones are decompressed (through a temporary name, so an
# interrupted make never leaves a truncated fixture), the others copied.
fixtures: $(FIX_OUT)

$(BUILD)/fixtures/%: tests/fixtures/%.xz
	@mkdir -p $(dir $@)
	@xz -dc $< >$@.tmp && mv $@.tmp $@

$(BUILD)/fixtures/%: tests/fixtures/%
	@mkdir -p $(dir $@)
	@cp $< $@

$(BUILD)/libctrace.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# --no-undefined: the core must not reach into the application layer (not in
# the sanitizer build, whose runtime the executable brings)
SO_LDFLAGS ?= -Wl,--no-undefined
$(BUILD)/libctrace.so: $(CORE_OBJ)
	$(CC) $(CFLAGS) -shared $(SO_LDFLAGS) -Wl,-soname,libctrace.so.0 -o $@ $^ $(CORE_LIBS)
	@ln -sf libctrace.so $(BUILD)/libctrace.so.0

# The application layer (include/ctrace_app.h: rows, plans, figures, averages,
# ct_run) as a second shared library on top of the core one, for bindings
# (python/ctrace's run()); it finds libctrace.so beside itself ($ORIGIN).
$(BUILD)/libctrace_app_priv.a: $(APP_PRIV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libctrace_app.so: $(APP_OBJ) $(BUILD)/libctrace_app_priv.a $(BUILD)/libctrace.so
	$(CC) $(CFLAGS) -shared $(SO_LDFLAGS) -Wl,-soname,libctrace_app.so.0 -Wl,-rpath,'$$ORIGIN' -o $@ \
	    $(APP_OBJ) $(BUILD)/libctrace_app_priv.a -Wl,--exclude-libs,libctrace_app_priv.a -L$(BUILD) -lctrace -lcairo $(CORE_LIBS)
	@ln -sf libctrace_app.so $(BUILD)/libctrace_app.so.0

$(BUILD)/ctrace: $(CLI_OBJ) $(BUILD)/libctrace.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# (fixtures order-only: `make build/tests/test_X` also lays out the fixtures it reads)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libctrace.a $(HEADERS) | fixtures
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libctrace.a $(LDLIBS)

$(BUILD)/tools/make_checkpoint: tools/checkpoint/make_checkpoint.c $(BUILD)/libctrace.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libctrace.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libctrace.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libctrace.a $(LDLIBS)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libctrace.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libctrace.a $(LDLIBS)

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(filter-out -march=native -O2,$(CFLAGS)) -c $< -o $@

$(BUILD)/fuzz/libctrace.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libctrace.a $(HEADERS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(filter-out -march=native -O2,$(CFLAGS)) -o $@ $< $(BUILD)/fuzz/libctrace.a $(LDLIBS)

# The libFuzzer targets, each run for FUZZ_SECONDS (default 600) on its seeds.
fuzz-build: $(FUZZ_BIN)
fuzz: deps fuzz-build fixtures
	@FUZZ_OUT=$(BUILD)/fuzz CTRACE_FIXTURES=$(abspath $(BUILD)/fixtures) tests/fuzz/run.sh $(FUZZ_SECONDS)

# The test suite: every tests/test_* program, plus the CLI tests in tests/cli/*.sh
# (tests/cli/fuzz_smoke.sh replays the fuzz seeds through $(REPLAY_BIN)).
check: $(BUILD)/ctrace $(BUILD)/libctrace.so $(BUILD)/libctrace_app.so $(TEST_BIN) $(REPLAY_BIN) $(SMOKE_BIN) fixtures
	@CTRACE_FIXTURES=$(abspath $(BUILD)/fixtures) CTRACE_BIN=$(abspath $(BUILD)/ctrace) tests/run.sh $(BUILD)

test: deps
	@$(MAKE) --no-print-directory check

# The same suite under AddressSanitizer + UBSan (+ float-cast-overflow), in its own build folder.
# (print_suppressions=0: LeakSanitizer's report of the fontconfig suppression
# would land in the output the CLI tests read.)
asan: deps
	@LSAN_OPTIONS=print_suppressions=0:$$LSAN_OPTIONS $(MAKE) --no-print-directory check BUILD=build-asan OPT="-O1" \
	    CC="$(ASAN_CC) $(SAN_FLAGS)" SO_LDFLAGS=

bench: deps $(BUILD)/ctrace $(BENCH_BIN) fixtures
	@for b in $(BENCH_BIN); do echo "== $$b"; CTRACE_FIXTURES=$(abspath $(BUILD)/fixtures) $$b || exit 1; done

# ctrace against ROME's procedure in plain PyTorch (needs /usr/bin/python3 with torch;
# minutes; not part of test): make bench-rome [ROME_ARGS="--quick" | ROME_ARGS=5]
# The CUDA checks (need `make CUDA=1 ...` and a GPU; NOT YET RUN ON A GPU):
# test-cuda = tests/cuda/test_ops_cuda (every op against ref) and
# tests/cuda/cli_cuda.sh (logits and traces, --device cuda against cpu, on the
# fixtures); bench-cuda = bench/cuda/bench_cuda (a random Llama-3.1-8B-layout
# model).  cuda-build builds their programs only (what a machine without a GPU can check).
CUDA_TEST_BIN := $(BUILD)/tests/cuda/test_ops_cuda
CUDA_BENCH_BIN := $(BUILD)/bench/cuda/bench_cuda
.PHONY: cuda-build test-cuda bench-cuda
cuda-build: $(BUILD)/ctrace $(CUDA_TEST_BIN) $(CUDA_BENCH_BIN) fixtures
	@test "$(CUDA)" = 1 || { echo "cuda-build: run as make CUDA=1 cuda-build"; exit 1; }

$(BUILD)/tests/cuda/%: tests/cuda/%.c $(BUILD)/libctrace.a $(HEADERS) | fixtures
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libctrace.a $(LDLIBS)

$(BUILD)/bench/cuda/%: bench/cuda/%.c $(BUILD)/libctrace.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libctrace.a $(LDLIBS)

test-cuda: cuda-build
	@$(CUDA_TEST_BIN) && CTRACE_FIXTURES=$(abspath $(BUILD)/fixtures) CTRACE_BIN=$(abspath $(BUILD)/ctrace) tests/cuda/cli_cuda.sh

bench-cuda: cuda-build
	@$(CUDA_BENCH_BIN) $(BENCH_CUDA_ARGS)

.PHONY: bench-rome
bench-rome: deps $(BUILD)/ctrace $(BUILD)/tools/make_checkpoint
	@bench/rome_side_by_side.sh $(ROME_ARGS)

demo: deps $(BUILD)/ctrace
	@scripts/demo.sh $(BUILD)/ctrace

clean:
	rm -rf build build-asan build-cuda
