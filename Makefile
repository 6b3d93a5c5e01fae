# forgetful: a GPT trainer in plain C that watches itself compress.
#   make            build ./train
#   make test       build and run the test suite (offline; prints what it skipped)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       each libFuzzer harness in dev/fuzz/ for FUZZ_SECONDS (default 30); needs clang
#   make fixtures   regenerate the committed reference fixtures (needs python3-torch, numpy, scipy)
#   make bench      speed benchmarks side by side with peers (dev/bench.sh), MPI ranks vs threads (dev/bench_mpi.sh)
#   make USE_CUBLAS=1        ./train and ./test_gpt with the GPU backend (lib/gpu.cu: CUDA kernels + cuBLAS)
#   make USE_MPI=1           ./train and ./test_gpt with data parallelism over MPI ranks (mpicc; mpirun -np N ./train)
#   make train_mpi           the same MPI ./train under its own name, ./train left alone
#   make train_gpu test_gpt_gpu   the same GPU binaries under their own names, ./train left alone
#   make clean

CC ?= cc
# Optional data parallelism over MPI ranks (lib/dist.c, the only file that names MPI): USE_MPI=1
# compiles everything with mpicc (Debian: openmpi-bin, libopenmpi-dev). Without it lib/dist.c is
# the one-rank stand-in and nothing links MPI.
MPICC ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 && echo yes)
ifeq ($(USE_MPI),1)
  CC = $(MPICC)
  $(info ✓ MPI build: $(MPICC), $(shell $(MPICC) --showme:version 2>/dev/null || $(MPICC) -v 2>&1 | head -1))
endif
# -O3, not -Ofast: the tests compare against PyTorch in fp32 and must not depend on fast-math.
# -march=native: AVX2/AVX-512 code paths where the machine has them.
OPT ?= -O3 -march=native
WARN = -Wall -Wextra -Wshadow -Wmissing-prototypes
CFLAGS ?= $(OPT)
# -fno-math-errno: math functions never set errno here, which lets loops calling sqrtf (AdamW)
# vectorise; results are unchanged (sqrt is exact either way). -fno-trapping-math: nothing here
# reads the floating-point exception flags, and without it GCC keeps a compare-and-select (the
# clamps of exp_f32) as a branch, so that no loop calling exp_f32 (GELU, softmax, cross-entropy)
# vectorises; rounding is untouched, every value the same bits (the tests compare them).
CFLAGS += -std=gnu11 -fno-math-errno -fno-trapping-math $(WARN)
LDLIBS = -lm

# OpenMP when the compiler has it; otherwise build single-threaded (the pragmas become comments).
OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes)
ifeq ($(OPENMP),yes)
  CFLAGS += -fopenmp
  $(info ✓ OpenMP found)
else
  $(info ✗ OpenMP not found: building single-threaded)
endif

SRC = model.c lib/layers.c lib/generate.c lib/checkpoint.c tokenizer.c lib/pretok.c lib/tok_maps.c lib/tok_train.c lib/tok_files.c probes.c lib/probe_io.c lib/plot.c lib/svg.c lib/csv.c lib/ib.c lib/util.c lib/json.c lib/gemm.c data/corpus.c data/ngram.c data/shards.c
HDR = model.h lib/layers.h tokenizer.h lib/pretok.h lib/tok_internal.h probes.h lib/util.h lib/layer_math.h lib/gemm.h lib/json.h lib/unicode_table.h \
      data/corpus.h data/shards.h

# preference data for DPO
SRC += data/prefs.c
HDR += data/prefs.h

# what ./train's stages share: the flags, the data set and loaders, the training step, the run
# folder, DPO
SRC += lib/flags.c lib/config.c data/dataset.c lib/step.c lib/run.c lib/probe_run.c lib/dpo.c lib/eval.c lib/sample.c lib/dist.c
HDR += lib/flags.h lib/config.h data/dataset.h lib/step.h lib/run.h lib/probe_run.h lib/dpo.h lib/eval.h lib/sample.h lib/dist.h

# the live page of a run (lib/page.c) and the page's own sources, which lib/embed_page.c inlines
# into lib/page_html.h at build time: a build output, never committed, so it cannot drift from them
SRC += lib/page.c
HDR += lib/page.h lib/page_html.h
PAGE_SRC = lib/page.html lib/page.css lib/page.js

# the test suite: test_gpt.c runs the sections, tests/<section>.c holds each one's checks
TEST_SRC = test_gpt.c tests/test.c tests/gemm.c tests/layers.c tests/model.c tests/tokenizer.c tests/data.c \
           tests/probes.c tests/ib.c tests/hf.c tests/use.c tests/train.c tests/dpo.c tests/reliability.c tests/runfolder.c \
           tests/gpu.c tests/page.c tests/dist.c
TEST_HDR = tests/test.h

# Optional GPU backend: lib/gpu.cu through nvcc, linked with cuBLAS and the CUDA runtime. The CPU build
# never sees it. NVCCFLAGS may add e.g. -arch=sm_90 (the default targets nvcc's default arch, JIT
# compiled for newer GPUs).
NVCC ?= nvcc
CUDA_HOME ?= /usr/local/cuda
NVCCFLAGS ?= -O3
GPU_LDLIBS = -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
GPU_HDR = lib/gpu.h lib/gpu_emu.h lib/layer_math.h
ifeq ($(USE_MPI),1)
  CFLAGS += -DUSE_MPI
endif
ifeq ($(USE_CUBLAS),1)
  CFLAGS += -DUSE_CUBLAS
  GPU_OBJ = gpu.o
  LDLIBS += $(GPU_LDLIBS)
  $(info ✓ GPU build: gpu.cu with $(NVCC), cuBLAS from $(CUDA_HOME))
endif
# `make test` also runs the GPU backend on the CPU: ./test_gpt_emu links lib/gpu.cu compiled as C++ with
# -DGPU_EMULATE (see lib/gpu_emu.h), so it needs a C++ compiler.
HAVE_CXX := $(shell command -v $(CXX) >/dev/null 2>&1 && echo yes)
EMU_FLAGS = -O2 -std=c++17 -x c++ -DGPU_EMULATE -Wall -Wextra -Wshadow -Wmissing-declarations

.PHONY: all test asan fuzz fuzz-corpus fixtures bench clean FORCE
all: train

# build_flavor holds "cpu" or "gpu" (and "+mpi") and changes only when USE_CUBLAS or USE_MPI does,
# so that switching rebuilds ./train and ./test_gpt
FLAVOR = $(if $(filter 1,$(USE_CUBLAS)),gpu,cpu)$(if $(filter 1,$(USE_MPI)),+mpi)
build_flavor: FORCE
	@test "$$(cat $@ 2>/dev/null)" = "$(FLAVOR)" || echo "$(FLAVOR)" > $@

# The revision run.json records (git describe; "unknown" outside a git checkout). build_rev holds it
# and changes with it, so that ./train is rebuilt when the revision moves.
REV := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
REV_FLAG = -DBUILD_REV='"$(REV)"'
build_rev: FORCE
	@test "$$(cat $@ 2>/dev/null)" = "$(REV)" || echo "$(REV)" > $@

train: train.c $(SRC) $(HDR) $(GPU_OBJ) build_flavor build_rev
	$(CC) $(CFLAGS) $(REV_FLAG) -o $@ train.c $(SRC) $(GPU_OBJ) $(LDLIBS)

test_gpt: $(TEST_SRC) $(TEST_HDR) $(SRC) $(HDR) $(GPU_OBJ) build_flavor
	$(CC) $(CFLAGS) -o $@ $(TEST_SRC) $(SRC) $(GPU_OBJ) $(LDLIBS)

# with MPI installed, the dist section also runs ./train_mpi and ./test_dist_mpi under mpirun
test: train test_gpt $(if $(HAVE_CXX),test_gpt_emu) $(if $(HAVE_MPI),train_mpi test_dist_mpi)
	./test_gpt
ifeq ($(HAVE_CXX),yes)
	./test_gpt_emu layers model gpu
else
	@echo "SKIP the GPU backend under CPU emulation (./test_gpt_emu) because no C++ compiler ($(CXX)) was found"
endif

# The MPI binaries: ./train_mpi (what make USE_MPI=1 builds as ./train) and ./test_dist_mpi, the
# check of lib/dist.c's sums and gathers across ranks (tests/dist_mpi.c, run by tests/dist.c).
MPI_CFLAGS = $(filter-out -DUSE_MPI -DUSE_CUBLAS,$(CFLAGS)) -DUSE_MPI
train_mpi: train.c $(SRC) $(HDR) build_rev
	$(MPICC) $(MPI_CFLAGS) $(REV_FLAG) -o $@ train.c $(SRC) -lm

test_dist_mpi: tests/dist_mpi.c lib/dist.c lib/dist.h lib/util.c lib/util.h
	$(MPICC) $(MPI_CFLAGS) -o $@ tests/dist_mpi.c lib/dist.c lib/util.c -lm

# a build tool, compiled for this machine and run here; nothing of it is linked into ./train
embed_page: lib/embed_page.c lib/util.c lib/util.h
	$(CC) -O1 -std=gnu11 $(WARN) -o $@ lib/embed_page.c lib/util.c -lm

lib/page_html.h: embed_page $(PAGE_SRC)
	./embed_page $(PAGE_SRC) $@

gpu.o: lib/gpu.cu $(GPU_HDR) lib/util.h
	$(NVCC) $(NVCCFLAGS) -Xcompiler -Wall,-Wextra,-Wshadow -c -o $@ lib/gpu.cu

gpu_emu.o: lib/gpu.cu $(GPU_HDR) lib/util.h
	$(CXX) $(EMU_FLAGS) -c -o $@ lib/gpu.cu

test_gpt_emu: $(TEST_SRC) $(TEST_HDR) $(SRC) $(HDR) $(GPU_HDR) gpu_emu.o
	$(CC) $(filter-out -DUSE_CUBLAS,$(CFLAGS)) -DUSE_CUBLAS -o $@ $(TEST_SRC) $(SRC) gpu_emu.o -lm

train_gpu: train.c $(SRC) $(HDR) gpu.o build_rev
	$(CC) $(filter-out -DUSE_CUBLAS,$(CFLAGS)) -DUSE_CUBLAS $(REV_FLAG) -o $@ train.c $(SRC) gpu.o -lm $(GPU_LDLIBS)

test_gpt_gpu: $(TEST_SRC) $(TEST_HDR) $(SRC) $(HDR) gpu.o
	$(CC) $(filter-out -DUSE_CUBLAS,$(CFLAGS)) -DUSE_CUBLAS -o $@ $(TEST_SRC) $(SRC) gpu.o -lm $(GPU_LDLIBS)

# Sanitizer build: -O1 -g keeps reports readable; OpenMP stays on so the threaded paths are checked.
ASAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(ASAN) -std=gnu11 -fno-math-errno $(WARN) $(if $(filter yes,$(OPENMP)),-fopenmp)
asan: train_asan test_gpt_asan $(if $(HAVE_MPI),train_mpi test_dist_mpi)
	TRAIN_BIN=./train_asan ASAN_OPTIONS=detect_leaks=1 ./test_gpt_asan

train_asan: train.c $(SRC) $(HDR) build_rev
	$(CC) $(ASAN_CFLAGS) $(REV_FLAG) -o $@ train.c $(SRC) $(LDLIBS)

test_gpt_asan: $(TEST_SRC) $(TEST_HDR) $(SRC) $(HDR)
	$(CC) $(ASAN_CFLAGS) -o $@ $(TEST_SRC) $(SRC) $(LDLIBS)

# libFuzzer harnesses (dev/fuzz/fuzz_<name>.c), one per parser of outside input, built with clang under
# ASan+UBSan (sources compiled once into dev/fuzz/out/obj/, coverage-instrumented, without OpenMP) and
# run for FUZZ_SECONDS each from the seed corpora in dev/fuzz/corpus/<name>/; fails on any finding.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
# a harness is built once its parser is part of SRC
FUZZERS = json safetensors config flags tokenizer_json gpt2_bpe probe_bins $(if $(filter data/prefs.c,$(SRC)),prefs) \
          $(if $(filter data/shards.c,$(SRC)),shard) state csv
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -std=gnu11 $(WARN)
FUZZ_OBJ = $(patsubst %.c,dev/fuzz/out/obj/%.o,$(SRC))
.SECONDARY: $(FUZZ_OBJ)
fuzz: $(FUZZERS:%=dev/fuzz/out/fuzz_%)
	bash dev/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# Rewrites the seed corpora (valid files from the project's own writers; small, committed).
fuzz-corpus: dev/fuzz/make_corpus.c $(SRC) $(HDR)
	@mkdir -p dev/fuzz/out
	$(CC) $(CFLAGS) -o dev/fuzz/out/make_corpus dev/fuzz/make_corpus.c $(SRC) $(LDLIBS)
	rm -rf dev/fuzz/corpus
	dev/fuzz/out/make_corpus dev/fuzz/corpus

dev/fuzz/out/obj/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

dev/fuzz/out/fuzz_%: dev/fuzz/fuzz_%.c dev/fuzz/fuzz_util.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

# Tools in dev/ built from the same sources (the scripts there call these rules, so the source list
# lives here only). bench_matmul loads OpenBLAS at run time when it is installed (a yardstick, never the
# product).
DEV_TOOLS = dev/bench_generate dev/tok_cli dev/ib_bound
$(DEV_TOOLS): dev/%: dev/%.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) -o $@ $< $(SRC) $(LDLIBS)

dev/bench_matmul: dev/bench_matmul.c lib/gemm.c lib/gemm.h
	$(CC) $(CFLAGS) -o $@ dev/bench_matmul.c lib/gemm.c -ldl -lm

fixtures:
	/usr/bin/python3 dev/reference_gpt.py
	/usr/bin/python3 dev/reference_probes.py
	/usr/bin/python3 dev/reference_ngram.py
	/usr/bin/python3 dev/reference_dpo.py
	/usr/bin/python3 dev/reference_ib.py

bench:
	bash dev/bench.sh
	bash dev/bench_mpi.sh

clean:
	rm -f train test_gpt train_asan test_gpt_asan test_gpt_emu train_gpu test_gpt_gpu train_mpi test_dist_mpi build_flavor build_rev *.o
	rm -f embed_page lib/page_html.h
	rm -f $(DEV_TOOLS) dev/bench_matmul
	rm -rf dev/fuzz/out
