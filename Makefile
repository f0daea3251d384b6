# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
#   make            build/cutthru, BPF objects embedded through skeletons
#   make demo       install what is missing, build, run the demo topology
#   make check      install what is missing, build, run every test
#   make vmtest     the kernel-dependent suites in VMs booting other kernels
#                   (KERNELS="6.1 6.12 /path/to/bzImage"; vmtest/matrix.sh)
#   make bench      the benchmark (bench/RESULTS.md)
#   make bench-xdp  the XDP prefilter under a SYN flood (bench/RESULTS-xdp.md)
#   make fuzz       every fuzzer, longer than make check (FUZZ_SECONDS=600)
#   make soak       10 minutes of mixed load on every data path (SOAK_SECONDS=N)
#   make soak-short 2 minutes of it against an ASan+UBSan build
#   make format     clang-format every C file
#   make install    binary, man page, systemd unit, example configuration
#                   (PREFIX=/usr/local, DESTDIR= for staging)
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
LDLIBS := -lbpf -lelf -lz -lmnl -lnftables -lcrypt -lpam -lpthread -lconfig -lmicrohttpd \
	-lcap-ng -lsystemd

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -I/usr/include/$(MULTIARCH) $(BPF_EXTRA)

BPF_PROGS := intercept cut xdp
BPF_OBJS := $(BPF_PROGS:%=$(BUILD)/%.bpf.o)
SKELS := $(BPF_PROGS:%=$(BUILD)/%.skel.h)

# User-space rooms; main.c alone is the binary's entry.
LIB_SRCS := access_log addr auth cli config conn conn_cut control cut handover http inspect \
	loader log loop metrics notify pin privs proxy relay report restart routing service takeover tls
LIB_OBJS := $(LIB_SRCS:%=$(BUILD)/user/%.o)

UNIT_TESTS := test_addr test_cli test_http test_notify test_privs test_relay test_tls
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)

# libFuzzer targets of the pure parsers: always clang, always with ASan+UBSan,
# built from the parser's source alone (no BPF, no daemon).
FUZZ_PARSERS := http tls
FUZZ_PARSER_BINS := $(FUZZ_PARSERS:%=$(BUILD)/fuzz/fuzz_%)

# make install: the unit goes where systemd looks for PREFIX (/usr/local/lib
# or /usr/lib/systemd/system), with ExecStart and the configuration path
# rewritten to SBINDIR and SYSCONFDIR; an existing configuration is never
# overwritten.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/cutthru
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
CONF_EXAMPLE := etc/cutthru.conf.example

.PHONY: all clean deps vmtest-deps demo check test vmtest bench bench-xdp soak soak-short format \
	format-check fuzz fuzz-seeds fuzz-parsers fuzz-parsers-bin install uninstall tests-bin
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

# The bulk stream checker of tests/soak/cut_bulk.py (sockmap duplication).
$(BUILD)/tests/streamcheck: tests/net/streamcheck.c | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -pthread -o $@

$(BUILD)/tests/bpf_intercept: tests/bpf/test_intercept.c tests/bpf/fixture.c tests/bpf/*.h \
		$(LIB_OBJS) | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< tests/bpf/fixture.c $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -o $@

# The fuzzers (tests/fuzz/): clang's libFuzzer with ASan and UBSan, whatever
# SAN says. The intercepting controller's, and the pure parsers', each built
# from the parser's source alone (no BPF, no daemon).
FUZZ_SRCS := tests/fuzz/fuzz_intercept.c tests/fuzz/oracle.c tests/fuzz/frame.c tests/bpf/fixture.c
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iuser
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600

$(BUILD)/tests/fuzz_intercept: $(FUZZ_SRCS) tests/fuzz/*.h tests/bpf/fixture.h \
		include/cutthru/abi.h $(BUILD)/intercept.skel.h $(BUILD)/xdp.skel.h | $(BUILD)/tests
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Iinclude -Itests/bpf -I$(BUILD) $(FUZZ_SRCS) -lbpf -lelf -lz -o $@

# ns per packet of the XDP prefilter and the TC program (make bench-xdp).
$(BUILD)/bench/progrun: bench/progrun.c tests/bpf/fixture.c tests/bpf/*.h include/cutthru/abi.h \
		user/loader.h $(BUILD)/intercept.skel.h $(BUILD)/xdp.skel.h | $(BUILD)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Iinclude -Iuser -Itests/bpf -I$(BUILD) $< tests/bpf/fixture.c \
		-lbpf -lelf -lz -o $@

# The XDP-frame SYN flood of make bench-xdp (bench/xdpflood.c), and its floor.
$(BUILD)/bench/%.bpf.o: bench/%.bpf.c | $(BUILD)/bench
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/xdpflood: bench/xdpflood.c | $(BUILD)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -lbpf -lelf -lz -o $@

# Writes the seed corpus from tests/bpf/packets.h's frame builders.
$(BUILD)/tests/fuzz_seeds: tests/fuzz/gen_seeds.c tests/bpf/packets.h | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Itests/bpf $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/check.h user/%.c user/%.h | $(BUILD)/fuzz
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< user/$*.c -o $@

$(BUILD) $(BUILD)/user $(BUILD)/tests $(BUILD)/fuzz $(BUILD)/bench:
	$(Q)mkdir -p $@

tests-bin: $(UNIT_BINS) $(BUILD)/tests/bpf_intercept $(BUILD)/tests/streamcheck $(BUILD)/tests/fuzz_intercept fuzz-parsers-bin

fuzz-parsers-bin: $(FUZZ_PARSER_BINS)

# The parsers' fuzzers for FUZZ_SECONDS in all, after replaying their seed
# corpora; `make check` runs them for about 20 s each.
fuzz-parsers: deps
	$(Q)$(MAKE) --no-print-directory fuzz-parsers-bin
	$(Q)tests/fuzz/run-parsers.sh $$(( $(FUZZ_SECONDS) / $(words $(FUZZ_PARSERS)) )) $(BUILD)

deps:
	$(Q)scripts/install-deps.sh

# Every fuzzer, the intercepting controller's FUZZ_SECONDS long (default 10
# minutes), then the parsers' as long in all; what the first finds is kept in
# tests/fuzz/corpus/ (see tests/fuzz/run.sh), the others' in
# FUZZ_BUILD/fuzz/artifacts/.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) $(FUZZ_BUILD)/tests/fuzz_intercept \
		fuzz-parsers-bin
	$(Q)tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_BUILD)
	$(Q)tests/fuzz/run-parsers.sh $$(( $(FUZZ_SECONDS) / $(words $(FUZZ_PARSERS)) )) $(FUZZ_BUILD)

# Rewrites the checked-in seed corpus from tests/bpf/packets.h's builders.
fuzz-seeds: $(BUILD)/tests/fuzz_seeds
	$(Q)rm -rf tests/fuzz/corpus/seed && mkdir -p tests/fuzz/corpus/seed
	$(Q)$(BUILD)/tests/fuzz_seeds tests/fuzz/corpus/seed

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

# A SYN flood dropped by XDP native, XDP generic, TC alone and an nftables
# ingress rule; ns per packet through BPF_PROG_TEST_RUN (about 6 minutes);
# writes bench/RESULTS-xdp.md and bench/results-xdp.png.
bench-xdp: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/progrun $(BUILD)/bench/xdpflood \
		$(BUILD)/bench/xdpflood.bpf.o $(BUILD)/bench/xdpdrop.bpf.o
	$(Q)bench/install-deps.sh
	$(Q)bench/xdp.py --build $(BUILD)

# Mixed load through one daemon per data path, every byte checked; fails on
# corruption, failed connections, or fds, map entries or RSS that do not
# return to the baseline once the load stops (tests/soak/soak.py). Not part
# of make check. soak-short: the same against an ASan+UBSan build, failing
# also on any sanitizer report or leak when the daemons exit.
SOAK_SECONDS ?= 600
SOAK_SHORT_SECONDS ?= 120

soak: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-soak all
	$(Q)tests/soak/soak.py --build build-soak --seconds $(SOAK_SECONDS)

soak-short: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-soak-asan SAN=1 all
	$(Q)tests/soak/soak.py --build build-soak-asan --seconds $(SOAK_SHORT_SECONDS) --sanitized

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h include/cutthru/*.h tests/*/*.c bench/*.c

format-check:
	$(Q)clang-format --dry-run -Werror bpf/*.c bpf/*.h user/*.c user/*.h include/cutthru/*.h tests/*/*.c bench/*.c

install: $(BUILD)/cutthru
	$(Q)install -D -m 0755 $(BUILD)/cutthru $(DESTDIR)$(SBINDIR)/cutthru
	$(Q)install -D -m 0644 doc/cutthru.8 $(DESTDIR)$(MANDIR)/man8/cutthru.8
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|/usr/sbin/cutthru|$(SBINDIR)/cutthru|' \
		-e 's|/etc/cutthru/|$(SYSCONFDIR)/cutthru/|' \
		dist/cutthru.service > $(DESTDIR)$(UNITDIR)/cutthru.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/cutthru.service
	$(Q)if [ -f $(CONF_EXAMPLE) ]; then \
		install -D -m 0644 $(CONF_EXAMPLE) $(DESTDIR)$(DOCDIR)/cutthru.conf.example; \
		if [ -e $(DESTDIR)$(SYSCONFDIR)/cutthru/cutthru.conf ]; then \
			echo "  KEEP    $(DESTDIR)$(SYSCONFDIR)/cutthru/cutthru.conf"; \
		else \
			install -D -m 0640 $(CONF_EXAMPLE) $(DESTDIR)$(SYSCONFDIR)/cutthru/cutthru.conf; \
		fi; \
	else \
		echo "  SKIP    no $(CONF_EXAMPLE): no configuration installed"; \
	fi
	@echo "  INSTALL $(DESTDIR)$(SBINDIR)/cutthru, cutthru(8), $(UNITDIR)/cutthru.service"

# The configuration stays.
uninstall:
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/cutthru $(DESTDIR)$(MANDIR)/man8/cutthru.8 \
		$(DESTDIR)$(UNITDIR)/cutthru.service $(DESTDIR)$(DOCDIR)/cutthru.conf.example
	$(Q)rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	$(Q)rm -rf build build-asan build-lru build-dev build-soak build-soak-asan $(FUZZ_BUILD)
