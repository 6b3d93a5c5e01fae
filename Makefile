# forgetful: a GPT trainer in plain C that watches itself compress.
#   make            build ./train
#   make test       build and run the test suite (offline; prints what it skipped)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       each libFuzzer harness in dev/fuzz/ for FUZZ_SECONDS (default 30); needs clang
#   make fixtures   regenerate the committed reference fixtures (needs python3-torch, numpy, scipy)
#   make bench      speed benchmarks side by side with peers (dev/bench.sh)
#   make clean

CC ?= cc
# -O3, not -Ofast: the tests compare against PyTorch in fp32 and must not depend on fast-math.
# -march=native: AVX2/AVX-512 code paths where the machine has them.
OPT ?= -O3 -march=native
WARN = -Wall -Wextra -Wshadow -Wmissing-prototypes
CFLAGS ?= $(OPT)
# -fno-math-errno: math functions never set errno here, which lets loops calling sqrtf (AdamW)
# vectorise; results are unchanged (sqrt is exact either way).
CFLAGS += -std=gnu11 -fno-math-errno $(WARN)
LDLIBS = -lm

# OpenMP when the compiler has it; otherwise build single-threaded (the pragmas become comments).
OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes)
ifeq ($(OPENMP),yes)
  CFLAGS += -fopenmp
  $(info ✓ OpenMP found)
else
  $(info ✗ OpenMP not found: building single-threaded)
endif

SRC = model.c tokenizer.c probes.c data/corpus.c data/ngram.c data/shards.c
HDR = model.h gemm.h json.h tokenizer.h unicode_table.h probes.h data/corpus.h data/shards.h

# preference data for DPO
SRC += data/prefs.c
HDR += data/prefs.h

.PHONY: all test asan fuzz fuzz-corpus fixtures bench clean
all: train

train: train.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) -o $@ train.c $(SRC) $(LDLIBS)

test_gpt: test_gpt.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) -o $@ test_gpt.c $(SRC) $(LDLIBS)

test: train test_gpt
	./test_gpt

# Sanitizer build: -O1 -g keeps reports readable; OpenMP stays on so the threaded paths are checked.
ASAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(ASAN) -std=gnu11 -fno-math-errno $(WARN) $(if $(filter yes,$(OPENMP)),-fopenmp)
asan: train_asan test_gpt_asan
	TRAIN_BIN=./train_asan ASAN_OPTIONS=detect_leaks=1 ./test_gpt_asan

train_asan: train.c $(SRC) $(HDR)
	$(CC) $(ASAN_CFLAGS) -o $@ train.c $(SRC) $(LDLIBS)

test_gpt_asan: test_gpt.c $(SRC) $(HDR)
	$(CC) $(ASAN_CFLAGS) -o $@ test_gpt.c $(SRC) $(LDLIBS)

# libFuzzer harnesses (dev/fuzz/fuzz_<name>.c), one per parser of outside input, built with clang under
# ASan+UBSan (sources compiled once into dev/fuzz/out/obj/, coverage-instrumented, without OpenMP) and
# run for FUZZ_SECONDS each from the seed corpora in dev/fuzz/corpus/<name>/; fails on any finding.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
# a harness is built once its parser is part of SRC
FUZZERS = json safetensors config flags tokenizer_json gpt2_bpe $(if $(filter data/prefs.c,$(SRC)),prefs) \
          $(if $(filter data/shards.c,$(SRC)),shard)
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

fixtures:
	/usr/bin/python3 dev/reference_gpt.py
	/usr/bin/python3 dev/reference_probes.py
	/usr/bin/python3 dev/reference_ngram.py
	/usr/bin/python3 dev/reference_dpo.py
	/usr/bin/python3 dev/reference_ib.py

bench:
	bash dev/bench.sh

clean:
	rm -f train test_gpt train_asan test_gpt_asan *.o
	rm -rf dev/fuzz/out
