# oci-bypass - build, test and demo. All output goes under build/.
# `make V=1` shows full commands.

# SAN=1: the oci-bypass binary built with ASan and UBSan, under build-asan/
# unless OUT says otherwise (make test runs part of the integration suite
# on it, tests/run.sh).
SAN        ?= 0
OUT        ?= $(if $(filter 1,$(SAN)),build-asan,build)
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES := build-essential pkg-config clang llvm bpftool libbpf-dev libelf-dev \
	zlib1g-dev libseccomp-dev libjson-c-dev libcmocka-dev iproute2 qperf iperf3 \
	busybox-static runc crun podman jq libclang-rt-14-dev clang-format-14 \
	debhelper lintian python3
# The kernel matrix and the guest smoke: Debian's kernels under qemu (TCG);
# installed without recommends (qemu's pull in a desktop's worth).
DEB_PACKAGES_NR := qemu-system-x86 kmod xz-utils cpio
# Docker and containerd as Debian 12 ships them (20.10, 1.6), for
# t_docker and t_containerd; redis and PostgreSQL for the pools of t_redis
# and t_pgbench. The tests start private servers of their own; the
# packages' own services are not started (policy-rc.d, below).
DEB_PACKAGES_ENGINES := docker.io containerd redis-server postgresql

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS     := libbpf libelf zlib json-c libseccomp
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# The hook runs on every container start: linking these five libraries in
# (glibc stays shared) saves the dynamic loader about 0.8 ms per call
# (create p50 4.6 -> 3.8 ms, tests/bench/hook_latency.sh). STATIC_LIBS=0
# links them as shared libraries, as a distribution package would.
STATIC_LIBS ?= 1
ifeq ($(STATIC_LIBS),1)
HOOK_LIBS  = -Wl,-Bstatic $(PKG_LIBS) -Wl,-Bdynamic
else
HOOK_LIBS  = $(PKG_LIBS)
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	    -Wmissing-prototypes -Wvla -Wno-missing-field-initializers -Wno-format-truncation
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(SAN),1)
CFLAGS   ?= -O1 -g
# without _FORTIFY_SOURCE: its checks abort before ASan can report
HOOK_SAN := $(SAN_FLAGS) -U_FORTIFY_SOURCE
HARDEN   := $(filter-out -D_FORTIFY_SOURCE=2,$(HARDEN))
else
CFLAGS   ?= -O2 -g
HOOK_SAN :=
endif
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(HOOK_SAN) $(WARN) $(HARDEN) -I$(OUT) -Ibpf -Ihook -Ioci $(PKG_CFLAGS)
LDFLAGS_H  := -pie -Wl,-z,relro,-z,now
SAN_CFLAGS := -std=gnu11 -O1 -g $(SAN_FLAGS) $(WARN) -I$(OUT) -Ibpf -Ihook -Ioci $(PKG_CFLAGS)

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -fdebug-prefix-map=$(CURDIR)=. \
	      -Ibpf $(if $(MULTIARCH),-idirafter /usr/include/$(MULTIARCH))

# Every file of hook/: each verb's cmd_*.c and the mechanism under them.
HOOK_SRCS := $(wildcard hook/*.c)
OCI_SRCS  := $(wildcard oci/*.c)
HOOK_OBJS := $(HOOK_SRCS:hook/%.c=$(OUT)/hook/%.o) $(OCI_SRCS:oci/%.c=$(OUT)/oci/%.o)
# Pure code (no BPF, no system calls that need root): unit-tested.
PURE_SRCS := hook/args.c hook/log.c hook/format.c hook/verdicts.c $(OCI_SRCS)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(wildcard tests/unit/test_*.c))
TOOLS      := $(OUT)/tests/streamcheck $(OUT)/tests/semantics $(OUT)/tests/stall \
	      $(OUT)/tests/repair $(OUT)/tests/smallstream $(OUT)/tests/guardprobe $(OUT)/tests/replay.bpf.o \
	      $(OUT)/tests/other_sockmap.bpf.o $(OUT)/tests/churn $(OUT)/tests/promo \
	      $(OUT)/tests/redispool $(OUT)/tests/bare.bpf.o $(OUT)/tests/sandboxcheck \
	      $(OUT)/tests/comeback $(OUT)/tests/synprobe

.DELETE_ON_ERROR:
.PHONY: all deps format-check test test-kernels unit integration demo bench soak clean format install tools check-root deb

all: $(OUT)/oci-bypass $(OUT)/oci-bypass-runtime

$(OUT)/bpf $(OUT)/hook $(OUT)/oci $(OUT)/tests:
	$(Q)mkdir -p $@

$(OUT)/bpf/bypass.bpf.o: bpf/bypass.bpf.c bpf/bypass.h | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/bypass.skel.h: $(OUT)/bpf/bypass.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bypass_bpf > $@

$(OUT)/hook/%.o: hook/%.c hook/ob.h bpf/bypass.h $(wildcard oci/*.h) $(OUT)/bypass.skel.h | $(OUT)/hook
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUT)/oci/%.o: oci/%.c $(wildcard oci/*.h) | $(OUT)/oci
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUT)/oci-bypass: $(HOOK_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS_H) $^ -o $@ $(HOOK_LIBS) -lpthread

# The runtime shim for Docker and containerd is the same binary, by name.
$(OUT)/oci-bypass-runtime: $(OUT)/oci-bypass
	$(Q)ln -sf oci-bypass $@

# Unit tests: pure code rebuilt with ASan and UBSan, linked with cmocka.
$(OUT)/tests/test_%: tests/unit/test_%.c $(PURE_SRCS) hook/cmds.c hook/ob.h bpf/bypass.h $(wildcard oci/*.h) $(wildcard tests/unit/*.h) | $(OUT)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(SAN_CFLAGS) $< $(PURE_SRCS) -o $@ $(PKG_LIBS) -lcmocka

# The hook's confinement checked from outside the product: the hook's own
# objects (but main.o) under tests/sandboxcheck.c's main().
$(OUT)/tests/sandboxcheck: tests/sandboxcheck.c $(filter-out $(OUT)/hook/main.o,$(HOOK_OBJS)) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Ihook $(LDFLAGS_H) $^ -o $@ $(HOOK_LIBS) -lpthread

# The bare reference of the BPF cost table (tests/bench/bpfcost.sh).
$(OUT)/tests/bare.bpf.o: tests/bench/bare.bpf.c | $(OUT)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# BPF programs of "another tool" for the tests.
$(OUT)/tests/%.bpf.o: tests/bpf/%.bpf.c bpf/bypass.h | $(OUT)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Test programs also run inside busybox containers: linked statically.
$(OUT)/tests/%: tests/%.c tests/addr.h tests/corrupt.h | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 $(CFLAGS) $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
		-static -pthread $< -o $@

tools: $(TOOLS)

# Installs what is missing (Debian), idempotent. docker.io's postinst
# would start a system dockerd (docker0, iptables FORWARD DROP) where no
# systemd is there to hold it back, and redis-server's and postgresql's
# their servers: a policy-rc.d that denies service starts is put in place
# for the install, unless there is one already.
deps:
	$(Q)missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	missing_nr=$$(for p in $(DEB_PACKAGES_NR) $(DEB_PACKAGES_ENGINES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing$$missing_nr" ]; then \
		echo "  DEPS     installing:" $$missing $$missing_nr; \
		[ "$$(id -u)" = 0 ] || { echo "make deps: run as root (sudo make deps)" >&2; exit 1; }; \
		apt-get update -qq || exit 1; \
		if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=600 $$missing >/dev/null || exit 1; fi; \
		if [ -n "$$missing_nr" ]; then \
			policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=1; \
				printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
				--no-install-recommends $$missing_nr >/dev/null; rc=$$?; \
			[ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit 1; \
		fi; \
	fi
	$(Q)bash -c '. tests/kernels/lib.sh && for s in $$OBK_SERIES; do \
		v=$$(obk_fetch $$s) && echo "  KERNEL   $$v (Debian 12, for the guests)"; done' || \
		echo "  KERNEL   Debian's kernels could not be fetched: the guest tests will skip" >&2

check-root:
	@[ "$$(id -u)" = 0 ] || { echo "this target needs root: sudo make $(MAKECMDGOALS)" >&2; exit 1; }

unit: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do $$t || exit 1; done

# The integration tests that run a second time against the ASan + UBSan
# build of the binary ($(OUT)-asan): those that drive the binary hardest
# (every verb, the hook, its records and races, install, doctor), not the
# long traffic tests, whose work is done in the kernel.
ASAN_TESTS := t_cli t_hook t_hook_race t_install t_security t_confine t_doctor t_environment t_kernel t_cgroup t_policy t_restart t_shim

test: check-root deps
	$(Q)$(MAKE) --no-print-directory format-check
	$(Q)$(MAKE) --no-print-directory all tools $(UNIT_TESTS)
	$(Q)out=$$(python3 tools/layers.py $(OUT)) || { echo "$$out" >&2; exit 1; }; echo "  LAYERS   $$(echo "$$out" | tail -n 1)"
	$(Q)$(MAKE) --no-print-directory SAN=1 OUT=$(OUT)-asan all tools
	$(Q)OB_BUILD=$(CURDIR)/$(OUT) OB_ASAN_BUILD=$(CURDIR)/$(OUT)-asan \
		OB_ASAN_TESTS="$(ASAN_TESTS)" bash tests/run.sh

# The kernel matrix: the integration suite on Debian 12's 6.1 and 6.12 under
# qemu and on the host's kernel, as a table (tests/kernels/matrix.sh).
test-kernels: check-root deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)OB_BUILD=$(CURDIR)/$(OUT) bash tests/kernels/matrix.sh

# ENGINE=docker: the same with Debian's Docker and oci-bypass-runtime.
ENGINE ?= runc
demo: check-root deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)OB_BUILD=$(CURDIR)/$(OUT) ENGINE=$(ENGINE) bash examples/demo.sh

# The benchmark suite: tables and plots under build/bench/ (issue 4).
bench: check-root deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)OB_BUILD=$(CURDIR)/$(OUT) bash tests/bench/run.sh

# A longer soak than the one make test runs (SOAK_SECONDS, default 600).
soak: check-root deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)OB_BUILD=$(CURDIR)/$(OUT) SOAK_SECONDS=$${SOAK_SECONDS:-600} TESTS=t_soak bash tests/run.sh

# Every C source is kept as clang-format 14 writes it (.clang-format);
# make test fails on a file that is not.
CLANG_FORMAT ?= clang-format-14
FORMAT_SRCS = $(wildcard bpf/*.[ch] hook/*.[ch] oci/*.[ch] tests/*.[ch] tests/*/*.[ch])
format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	$(call msg,FORMAT,check)
	$(Q)$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRCS) || \
		{ echo "make format-check: run 'make format' and commit the result" >&2; exit 1; }

# A Debian package (debian/, dpkg-buildpackage, checked by lintian), built
# from a copy of the tree under $(OUT)/deb so that the .deb lands there
# rather than beside the clone: $(OUT)/deb/oci-bypass_VERSION_ARCH.deb.
deb:
	$(Q)command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null && \
		dpkg-query -W -f='$${Status}' debhelper 2>/dev/null | grep -q 'install ok installed' || \
		{ echo "make deb: needs dpkg-dev, debhelper and lintian (make deps installs them)" >&2; exit 1; }
	$(Q)rm -rf $(OUT)/deb && mkdir -p $(OUT)/deb/src
	$(Q)tar --exclude='./build*' --exclude=./.git -cf - . | tar -C $(OUT)/deb/src -xf -
	$(call msg,DEB,$(OUT)/deb)
	$(Q)cd $(OUT)/deb/src && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -n 30 $(OUT)/deb/build.log >&2; exit 1; }
	$(Q)lintian --fail-on error,warning --suppress-tags-from-file debian/lintian-suppressed \
		$(OUT)/deb/*.deb
	$(Q)ls $(OUT)/deb/*.deb

# The binary lives where OCI hooks live; bin/ gets a link for operators.
# The hooks.d file is rendered and validated by the binary itself, which
# also writes the host policy (all off) where there is none.
HOOKS_DIR ?= /etc/containers/oci/hooks.d
MAN_DIR   ?= $(PREFIX)/share/man/man8
UNIT_DIR  ?= $(PREFIX)/lib/systemd/system
install: $(OUT)/oci-bypass $(OUT)/oci-bypass-runtime
	install -D -m 0755 $(OUT)/oci-bypass $(DESTDIR)$(PREFIX)/libexec/oci/hooks.d/oci-bypass
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sf ../libexec/oci/hooks.d/oci-bypass $(DESTDIR)$(PREFIX)/bin/oci-bypass
	ln -sf oci-bypass $(DESTDIR)$(PREFIX)/libexec/oci/hooks.d/oci-bypass-runtime
	ln -sf ../libexec/oci/hooks.d/oci-bypass-runtime $(DESTDIR)$(PREFIX)/bin/oci-bypass-runtime
	install -D -m 0644 docs/oci-bypass.8 $(DESTDIR)$(MAN_DIR)/oci-bypass.8
	ln -sf oci-bypass.8 $(DESTDIR)$(MAN_DIR)/oci-bypass-runtime.8
	install -d $(DESTDIR)$(UNIT_DIR)
	for u in promote gc; do \
		sed 's|@BINDIR@|$(PREFIX)/bin|g' examples/systemd/oci-bypass-$$u.service.in \
			>$(DESTDIR)$(UNIT_DIR)/oci-bypass-$$u.service && \
		install -m 0644 examples/systemd/oci-bypass-$$u.timer $(DESTDIR)$(UNIT_DIR)/ || exit 1; \
	done
	$(OUT)/oci-bypass install-hooks --dir $(DESTDIR)$(HOOKS_DIR) \
		--hook-path $(PREFIX)/libexec/oci/hooks.d/oci-bypass \
		--policy $(DESTDIR)/etc/oci-bypass/policy.conf

clean:
	rm -rf $(OUT)
