# forgetful: a GPT trainer in plain C that watches itself compress.
#   make            build ./train
#   make test       build and run the test suite (offline; prints what it skipped)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fixtures   regenerate the committed reference fixtures (needs python3-torch, numpy, scipy)
#   make bench      speed benchmarks side by side with peers (dev/bench.sh)
#   make clean

CC ?= cc
# -O3, not -Ofast: the tests compare against PyTorch in fp32 and must not depend on fast-math.
# -march=native: AVX2/AVX-512 code paths where the machine has them.
OPT ?= -O3 -march=native
WARN = -Wall -Wextra -Wshadow -Wmissing-prototypes
CFLAGS ?= $(OPT)
CFLAGS += -std=gnu11 $(WARN)
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
HDR = model.h json.h tokenizer.h unicode_table.h probes.h data/corpus.h data/shards.h

.PHONY: all test asan fixtures bench clean
all: train

train: train.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) -o $@ train.c $(SRC) $(LDLIBS)

test_gpt: test_gpt.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) -o $@ test_gpt.c $(SRC) $(LDLIBS)

test: train test_gpt
	./test_gpt

# Sanitizer build: -O1 -g keeps reports readable; OpenMP stays on so the threaded paths are checked.
ASAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(ASAN) -std=gnu11 $(WARN) $(if $(filter yes,$(OPENMP)),-fopenmp)
asan: train_asan test_gpt_asan
	TRAIN_BIN=./train_asan ASAN_OPTIONS=detect_leaks=1 ./test_gpt_asan

train_asan: train.c $(SRC) $(HDR)
	$(CC) $(ASAN_CFLAGS) -o $@ train.c $(SRC) $(LDLIBS)

test_gpt_asan: test_gpt.c $(SRC) $(HDR)
	$(CC) $(ASAN_CFLAGS) -o $@ test_gpt.c $(SRC) $(LDLIBS)

fixtures:
	/usr/bin/python3 dev/reference_gpt.py
	/usr/bin/python3 dev/reference_probes.py
	/usr/bin/python3 dev/reference_ngram.py
	/usr/bin/python3 dev/reference_ib.py

bench:
	bash dev/bench.sh

clean:
	rm -f train test_gpt train_asan test_gpt_asan *.o
