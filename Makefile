# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
#   make            build/cutthru, BPF objects embedded through skeletons
#   make demo       install what is missing, build, run the demo topology
#   make check      install what is missing, build, run every test
#   make vmtest     the kernel-dependent suites in VMs booting other kernels
#                   (KERNELS="6.1 6.12 /path/to/bzImage"; vmtest/matrix.sh)
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

.PHONY: all clean deps vmtest-deps demo check test vmtest bench format format-check
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

$(BUILD)/tests/bpf_intercept: tests/bpf/test_intercept.c tests/bpf/*.h $(LIB_OBJS) | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD) $(BUILD)/user $(BUILD)/tests:
	$(Q)mkdir -p $@

tests-bin: $(UNIT_BINS) $(BUILD)/tests/bpf_intercept

deps:
	$(Q)scripts/install-deps.sh

vmtest-deps:
	$(Q)vmtest/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)/cutthru

# Everything the tests run is built with ASan+UBSan in build-asan/; build-lru/
# is the same with a 16-entry quad list, to overflow it.
# tests/run-all.sh ends with the kernel matrix (vmtest/), on the same build.
check: deps vmtest-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all tests-bin
	$(Q)$(MAKE) --no-print-directory BUILD=build-lru SAN=1 BPF_EXTRA=-DCUTTHRU_QUADS_MAX=16 all
	$(Q)tests/run-all.sh build-asan

test: check

# Kernels: names from vmtest/kernels (default: all of them) or image paths.
KERNELS ?=
VMTEST_BUILD ?= build-asan
vmtest: vmtest-deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(VMTEST_BUILD) SAN=1 all tests-bin
	$(Q)CUTTHRU_BUILD=$(VMTEST_BUILD) vmtest/matrix.sh $(KERNELS)

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
	$(Q)rm -rf build build-asan build-lru build-dev
