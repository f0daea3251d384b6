# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
#   make            build/cutthru, BPF objects embedded through skeletons
#   make demo       install what is missing, build, run the demo topology
#   make check      install what is missing, build, run every test
#   make bench      the benchmark (bench/RESULTS.md)
#   make format     clang-format every C file
#
# BUILD=build-asan SAN=1 gives the sanitized build the tests run.

BUILD ?= build
SAN ?=
V ?=
Q := $(if $(V),,@)

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

INCLUDES := -Iinclude -Iuser -I$(BUILD)
CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS := -lbpf -lelf -lz -lmnl -lnftables

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -I/usr/include/$(MULTIARCH) $(BPF_EXTRA)

BPF_PROGS := intercept cut
BPF_OBJS := $(BPF_PROGS:%=$(BUILD)/%.bpf.o)
SKELS := $(BPF_PROGS:%=$(BUILD)/%.skel.h)

# User-space rooms; main.c alone is the binary's entry.
LIB_SRCS := addr cli conn conn_cut cut loader log loop proxy relay routing
LIB_OBJS := $(LIB_SRCS:%=$(BUILD)/user/%.o)

UNIT_TESTS := test_addr test_cli test_relay
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)

.PHONY: all clean deps demo check test bench format format-check fuzz fuzz-seeds tests-bin
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/cutthru

$(BUILD)/%.bpf.o: bpf/%.bpf.c bpf/*.h include/cutthru/abi.h | $(BUILD)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/user/%.o: user/%.c user/*.h include/cutthru/abi.h $(SKELS) | $(BUILD)/user
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(BUILD)/cutthru: $(BUILD)/user/main.o $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/bpf_intercept: tests/bpf/test_intercept.c tests/bpf/fixture.c tests/bpf/*.h \
		$(LIB_OBJS) | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< tests/bpf/fixture.c $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -o $@

# The fuzzer of the intercepting controller: clang's libFuzzer with ASan and
# UBSan, whatever SAN says (tests/fuzz/).
FUZZ_SRCS := tests/fuzz/fuzz_intercept.c tests/fuzz/oracle.c tests/fuzz/frame.c tests/bpf/fixture.c
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600

$(BUILD)/tests/fuzz_intercept: $(FUZZ_SRCS) tests/fuzz/*.h tests/bpf/fixture.h \
		include/cutthru/abi.h $(BUILD)/intercept.skel.h | $(BUILD)/tests
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Iinclude -Itests/bpf -I$(BUILD) $(FUZZ_SRCS) -lbpf -lelf -lz -o $@

# Writes the seed corpus from tests/bpf/packets.h's frame builders.
$(BUILD)/tests/fuzz_seeds: tests/fuzz/gen_seeds.c tests/bpf/packets.h | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Itests/bpf $< -o $@

$(BUILD) $(BUILD)/user $(BUILD)/tests:
	$(Q)mkdir -p $@

tests-bin: $(UNIT_BINS) $(BUILD)/tests/bpf_intercept $(BUILD)/tests/fuzz_intercept

deps:
	$(Q)scripts/install-deps.sh

# The fuzzer, FUZZ_SECONDS long (default 10 minutes); what it finds is kept
# in tests/fuzz/corpus/ (see tests/fuzz/run.sh).
fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) $(FUZZ_BUILD)/tests/fuzz_intercept
	$(Q)tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_BUILD)

# Rewrites the checked-in seed corpus from tests/bpf/packets.h's builders.
fuzz-seeds: $(BUILD)/tests/fuzz_seeds
	$(Q)rm -rf tests/fuzz/corpus/seed && mkdir -p tests/fuzz/corpus/seed
	$(Q)$(BUILD)/tests/fuzz_seeds tests/fuzz/corpus/seed

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)/cutthru

# Everything the tests run is built with ASan+UBSan in build-asan/; build-lru/
# is the same with a 16-entry quad list, to overflow it.
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all tests-bin
	$(Q)$(MAKE) --no-print-directory BUILD=build-lru SAN=1 BPF_EXTRA=-DCUTTHRU_QUADS_MAX=16 all
	$(Q)tests/run-all.sh build-asan

test: check

# direct vs cutthru's data paths vs HAProxy and nginx (about 10 minutes);
# writes bench/RESULTS.md and bench/results.png.
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/install-deps.sh
	$(Q)bench/run.py --cutthru-paths copy,splice,sockmap

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h include/cutthru/*.h tests/*/*.c bench/*.c

format-check:
	$(Q)clang-format --dry-run -Werror bpf/*.c bpf/*.h user/*.c user/*.h include/cutthru/*.h tests/*/*.c bench/*.c

clean:
	$(Q)rm -rf build build-asan build-lru build-dev $(FUZZ_BUILD)
