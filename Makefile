# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# emitd: in the libbpf-bootstrap style. Outputs go to build/; `V=1` shows the
# full commands.

OUTPUT		:= build
CLANG		?= clang
BPFTOOL		?= bpftool
CC		?= gcc
PYTHON		?= /usr/bin/python3
ARCH		:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX		:= vmlinux/$(ARCH)/vmlinux.h

# `make CFLAGS='-O1 -g -fsanitize=address,undefined'` replaces the
# optimisation and debug flags only: what the code needs is always added.
CFLAGS		?= -O2 -g
override CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP
# include/abi: the BPF <-> agent ABI (emitd.h, emitd_bucket.h); include/: what
# applications include (emitd_probe.h). BPF sees the ABI only, applications
# (demo-target, probe_target) the application header only.
INCLUDES	:= -I$(OUTPUT) -I$(OUTPUT)/proto -Iinclude/abi -Iinclude -Iuser
LDLIBS		:= -lbpf -lelf -lz -lyaml -lmicrohttpd -lgnutls -lcrypt -ljansson -lcurl -lcrypto \
		   -lprotobuf-c -lsnappy -lcap -lseccomp -lpthread -lm
BPF_CFLAGS	:= -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		   -I$(dir $(VMLINUX)) -Iinclude/abi \
		   -I/usr/include/$(shell $(CC) -dumpmachine)

DEB_PKGS	:= build-essential clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
		   libcmocka-dev libyaml-dev libmicrohttpd-dev libjansson-dev libssl-dev \
		   libcurl4-openssl-dev \
		   systemtap-sdt-dev pkg-config python3 python3-pytest python3-numpy \
		   curl bpftrace prometheus binutils
DEB_PKGS	+= golang-go golang-github-prometheus-client-golang-dev wrk  # make bench: the client_golang peer (bench/peer), the scrape load
DEB_PKGS	+= libprotobuf-c-dev protobuf-c-compiler libsnappy-dev	# remote write
DEB_PKGS	+= python3-prometheus-client  # test_hostile_labels: the OpenMetrics parser
DEB_PKGS	+= libgnutls28-dev libcrypt-dev openssl  # TLS (libmicrohttpd's GnuTLS), bcrypt (libxcrypt), test certificates

# emitd_build_info{version,revision}: the revision is `git describe` at build
# time ("unknown" outside git), compiled into lib/build_info.o alone, which
# is rebuilt when it changes ($(OUTPUT)/revision is rewritten only then).
VERSION		:= 0.1.0
REVISION	:= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
DEB_PKGS	+= libcap-dev libseccomp-dev  # privs: capabilities per thread, seccomp on the HTTP threads
DEB_PKGS	+= dpkg-dev systemd groff-base man-db adduser  # make deb, check-unit: dpkg-shlibdeps, systemd-analyze, man
DEB_PKGS	+= python3-yaml  # tests: read the generated Grafana provisioning files
DEB_PKGS	+= postgresql-15 postgresql-client-15  # real USDT probes: tests/integration/pg.py
DEB_PKGS	+= python3.11  # examples/python.yml probes /usr/bin/python3.11 itself, whatever python3 points to
DEB_PKGS	+= libclang-rt-14-dev  # libFuzzer and clang's sanitizer runtimes (make fuzz)

BPF_SRCS	:= $(wildcard bpf/*.bpf.c)
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# user/ by layer: lib/ (pure), spec/, gen/, agent/, client/; main.c on top.
LAYERS		:= lib spec gen agent client
LIB_SRCS	:= $(foreach d,$(LAYERS),$(wildcard user/$(d)/*.c))
# Protocol buffers (remote write) compiled by protoc-c into build/proto/.
PROTOS		:= $(wildcard proto/*.proto)
PROTO_CS	:= $(patsubst proto/%.proto,$(OUTPUT)/proto/%.pb-c.c,$(PROTOS))
PROTO_OBJS	:= $(PROTO_CS:.c=.o)
PROTO_USERS	:= $(patsubst user/%.c,$(OUTPUT)/user/%.o,\
		   $(shell grep -l '\.pb-c\.h"' $(LIB_SRCS)))
LIB_OBJS	:= $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS)) $(PROTO_OBJS)
# Only the files that include the skeleton wait for it.
SKEL_USERS	:= $(patsubst user/%.c,$(OUTPUT)/user/%.o,\
		   $(shell grep -l '"emit.skel.h"' $(LIB_SRCS)))
LIB		:= $(OUTPUT)/libemitd.a
UNIT_SRCS	:= $(wildcard tests/test_*.c)
UNIT_BINS	:= $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# Probed processes the integration tests start (tests/targets/).
TEST_TARGETS	:= $(patsubst tests/targets/%.c,$(OUTPUT)/tests/%,$(wildcard tests/targets/*.c))
BENCH_SRCS	:= $(wildcard bench/*.c)
BENCH_BINS	:= $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(SKELS)
.PHONY: all clean deps run test test-unit test-integration test-asan fuzz bench gen gen-check \
	layering check-manifests man man-check install deb deb-check check-unit FORCE

all: $(OUTPUT)/emitd $(OUTPUT)/demo-target

deps:
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS)

$(OUTPUT) $(OUTPUT)/tests $(OUTPUT)/bench $(OUTPUT)/user $(addprefix $(OUTPUT)/user/,$(LAYERS)):
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) $(wildcard include/abi/*.h) $(VMLINUX) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name emit_bpf > $@

# Header dependencies come from -MMD (build/**/*.d).
$(OUTPUT)/user/main.o: user/main.c | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(SKEL_USERS): $(SKELS)
$(PROTO_USERS): $(PROTO_CS)

$(OUTPUT)/proto/%.pb-c.c $(OUTPUT)/proto/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(OUTPUT)/proto && protoc-c --proto_path=proto --c_out=$(OUTPUT)/proto $<

$(OUTPUT)/proto/%.pb-c.o: $(OUTPUT)/proto/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -I$(OUTPUT)/proto -c $< -o $@

define layer_rule
$(OUTPUT)/user/$(1)/%.o: user/$(1)/%.c | $(OUTPUT)/user/$(1)
	$$(call msg,CC,$$@)
	$$(Q)$$(CC) $$(CFLAGS) $$(EXTRA_DEFS) $$(INCLUDES) -c $$< -o $$@
endef
$(foreach d,$(LAYERS),$(eval $(call layer_rule,$(d))))

$(OUTPUT)/revision: FORCE | $(OUTPUT)
	$(Q)echo '$(REVISION)' | cmp -s - $@ || echo '$(REVISION)' > $@

$(OUTPUT)/user/lib/build_info.o: $(OUTPUT)/revision
$(OUTPUT)/user/lib/build_info.o: EXTRA_DEFS := -DEMITD_VERSION='"$(VERSION)"' \
	-DEMITD_REVISION='"$(REVISION)"'

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcsP $@ $^

$(OUTPUT)/emitd: $(OUTPUT)/user/main.o $(LIB)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/demo-target: examples/demo-target.c include/emitd_probe.h | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -Iinclude $< -lm -o $@

# Test targets stay free of emitd's libraries, like any application.
$(TEST_TARGETS): $(OUTPUT)/tests/%: tests/targets/%.c include/emitd_probe.h | $(OUTPUT)/tests
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -Iinclude $< -o $@

$(OUTPUT)/tests/%: tests/%.c $(LIB) | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB) -lcmocka $(LDLIBS) -o $@

$(OUTPUT)/bench/%: bench/%.c $(LIB) $(SKELS) | $(OUTPUT)/bench
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB) $(LDLIBS) -o $@

# The probe target stays free of emitd's libraries, like any application.
$(OUTPUT)/bench/probe_target: bench/probe_target.c include/emitd_probe.h | $(OUTPUT)/bench
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) -Iinclude $< -o $@

# The scrape benchmark's peer: Debian's client_golang in GOPATH mode, no
# module downloads (GOPROXY=off, no -mod=mod).
GO_ENV		:= GO111MODULE=off GOPROXY=off GOFLAGS= \
		   GOPATH=/usr/share/gocode:$(abspath $(OUTPUT))/bench/gopath \
		   GOCACHE=$(abspath $(OUTPUT))/bench/gocache
$(OUTPUT)/bench/peer: bench/peer/main.go | $(OUTPUT)/bench
	$(call msg,GO,$@)
	$(Q)mkdir -p $(OUTPUT)/bench/gopath && env $(GO_ENV) go build -o $@ ./bench/peer

run: all
	./examples/run-demo.sh

test: test-unit test-integration

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Root integration tests: they load BPF, attach to the demo target and assert
# exact counts. They fail (never skip) when they cannot run.
test-integration: all $(TEST_TARGETS)
	$(PYTHON) -m pytest -v tests/integration

# The unit tests and a short agent run (tests/asan/agent_run.sh: spec/demo.yml
# on the demo target, every endpoint scraped, then SIGTERM) built with ASan and
# UBSan into their own OUTPUT; any report fails (root, like test-integration).
ASAN_OUTPUT	?= build-asan
ASAN_CFLAGS	:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		   -fno-sanitize-recover=undefined

test-asan:
	$(Q)$(MAKE) --no-print-directory OUTPUT=$(ASAN_OUTPUT) CFLAGS='$(ASAN_CFLAGS)' all test-unit
	$(Q)tests/asan/agent_run.sh $(ASAN_OUTPUT)

# libFuzzer targets (tests/fuzz/fuzz_*.c) against every library object built
# again with clang, coverage, ASan and UBSan into $(FUZZ_OUT). `make fuzz`
# builds them and runs each for FUZZ_SECONDS from its committed seeds
# (tests/fuzz/corpus/<target>/); any crash, leak, timeout or sanitizer report
# fails it, its input kept in $(FUZZ_OUT)/artifacts/.
FUZZ_CC		?= clang
FUZZ_SECONDS	?= 10
FUZZ_OUT	:= $(OUTPUT)/fuzz
FUZZ_CFLAGS	:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		   -fno-sanitize-recover=all -std=gnu11 -Wall -Wextra -Werror \
		   -Wno-missing-field-initializers -D_GNU_SOURCE -MMD -MP
FUZZ_SRCS	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS	:= $(patsubst tests/fuzz/%.c,$(FUZZ_OUT)/%,$(FUZZ_SRCS))
FUZZ_OBJS	:= $(patsubst user/%.c,$(FUZZ_OUT)/user/%.o,$(LIB_SRCS)) \
		   $(patsubst $(OUTPUT)/%.c,$(FUZZ_OUT)/%.o,$(PROTO_CS))
FUZZ_LIB	:= $(FUZZ_OUT)/libemitd.a

$(patsubst $(OUTPUT)/user/%,$(FUZZ_OUT)/user/%,$(SKEL_USERS)): $(SKELS)
$(patsubst $(OUTPUT)/user/%,$(FUZZ_OUT)/user/%,$(PROTO_USERS)): $(PROTO_CS)

$(FUZZ_OUT)/user/%.o: user/%.c
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(INCLUDES) -c $< -o $@

$(FUZZ_OUT)/proto/%.pb-c.o: $(OUTPUT)/proto/%.pb-c.c
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(filter-out -Werror,$(FUZZ_CFLAGS)) -fsanitize=fuzzer-no-link \
		-I$(OUTPUT)/proto -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcsP $@ $^

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(call msg,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(INCLUDES) -Itests/fuzz $< $(FUZZ_LIB) \
		$(LDLIBS) -o $@

fuzz: $(FUZZ_BINS)
	$(Q)tests/fuzz/run.sh $(FUZZ_OUT) $(FUZZ_SECONDS) $(notdir $(FUZZ_BINS))

bench: all $(BENCH_BINS) $(OUTPUT)/bench/peer
	@set -e; for b in $(filter $(OUTPUT)/bench/bench_%,$(BENCH_BINS)); do echo "== $$b"; $$b; done
	./bench/run.sh
	./bench/drain.sh
	./bench/scrape.sh

# Generated artifacts users consume are committed: spec/demo.yml's at the repo
# root, any other spec's under generated/<name>/. `gen` rewrites them,
# `gen-check` fails (exit 6/8/9/10/11) when they drift from their spec.
GEN_SPECS	:= $(wildcard spec/*.yml)

gen: $(OUTPUT)/emitd
	@set -e; for s in $(GEN_SPECS); do n=$$(basename $$s .yml); \
		o=$$([ $$n = demo ] && echo . || echo generated/$$n); \
		echo "  GEN      $$s -> $$o"; $(OUTPUT)/emitd gen --spec $$s --out $$o; done

# docs/emitd.8's RUN OPTIONS come from `emitd run --help` (the run flag table).
man: $(OUTPUT)/emitd
	$(Q)$(PYTHON) scripts/man_options.py $(OUTPUT)/emitd docs/emitd.8

man-check: $(OUTPUT)/emitd
	$(Q)$(PYTHON) scripts/man_options.py $(OUTPUT)/emitd docs/emitd.8 --check

gen-check: $(OUTPUT)/emitd
	@set -e; for s in $(GEN_SPECS); do n=$$(basename $$s .yml); \
		o=$$([ $$n = demo ] && echo . || echo generated/$$n); \
		echo "  CHECK    $$s -> $$o"; $(OUTPUT)/emitd gen --spec $$s --out $$o --check; done

# Who may include whom (docs/ARCHITECTURE.md): fails on a forbidden include
# or an include cycle between folders or files.
layering: $(LIB_OBJS)
	$(Q)$(PYTHON) scripts/layering.py user $(OUTPUT)/user

# The Kubernetes manifests: valid YAML with what docs/FLEET.md promises.
check-manifests: $(OUTPUT)/emitd
	$(Q)$(PYTHON) scripts/check_manifests.py deploy/kubernetes/daemonset.yaml $(OUTPUT)/emitd
# --- install, package, unit -------------------------------------------------
# `make install [PREFIX=/usr] [DESTDIR=...]`: the binary, emitd(8), the unit
# (its ExecStart follows PREFIX), the spec reference, and /etc/emitd/emitd.yml,
# an example that lints clean, installed only where none exists yet.
PREFIX		?= /usr
SBINDIR		:= $(PREFIX)/sbin
MANDIR		:= $(PREFIX)/share/man
DOCDIR		:= $(PREFIX)/share/doc/emitd
SYSCONFDIR	?= /etc
UNITDIR		?= /lib/systemd/system
DEB_ARCH	:= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB		:= $(OUTPUT)/emitd_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE	:= $(OUTPUT)/deb/debian/emitd

install: $(OUTPUT)/emitd
	install -D -m 0755 $(OUTPUT)/emitd $(DESTDIR)$(SBINDIR)/emitd
	install -D -m 0644 docs/emitd.8 $(DESTDIR)$(MANDIR)/man8/emitd.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin/emitd|$(SBINDIR)/emitd|' deploy/emitd.service > $(DESTDIR)$(UNITDIR)/emitd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/emitd.service
	install -D -m 0644 docs/SPEC.md $(DESTDIR)$(DOCDIR)/SPEC.md
	install -d $(DESTDIR)$(SYSCONFDIR)/emitd
	[ -e $(DESTDIR)$(SYSCONFDIR)/emitd/emitd.yml ] || \
		install -m 0644 deploy/emitd.yml $(DESTDIR)$(SYSCONFDIR)/emitd/emitd.yml

# build/emitd_<version>_<arch>.deb: the install tree, a gzipped man page,
# control (Depends from dpkg-shlibdeps), conffiles, maintainer scripts.
deb: $(DEB)

$(DEB): $(OUTPUT)/emitd docs/emitd.8 deploy/emitd.service deploy/emitd.yml docs/SPEC.md \
	$(wildcard deploy/debian/*)
	$(call msg,DEB,$@)
	$(Q)rm -rf $(OUTPUT)/deb && mkdir -p $(DEB_TREE)/DEBIAN
	$(Q)$(MAKE) -s install DESTDIR=$(abspath $(DEB_TREE)) PREFIX=/usr
	$(Q)gzip -9n $(DEB_TREE)/usr/share/man/man8/emitd.8
	$(Q)printf 'Source: emitd\n\nPackage: emitd\nArchitecture: any\n' > $(OUTPUT)/deb/debian/control
	$(Q)deps=$$(cd $(OUTPUT)/deb && dpkg-shlibdeps -O debian/emitd/usr/sbin/emitd | \
		sed -n 's/^shlibs:Depends=//p') && [ -n "$$deps" ] && \
	size=$$(du -sk --exclude=DEBIAN $(DEB_TREE) | cut -f1) && \
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
	    -e "s/@DEPENDS@/$$deps/" -e "s/@SIZE@/$$size/" \
	    deploy/debian/control.in > $(DEB_TREE)/DEBIAN/control
	$(Q)install -m 0644 deploy/debian/conffiles $(DEB_TREE)/DEBIAN/conffiles
	$(Q)install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm \
		$(DEB_TREE)/DEBIAN/
	$(Q)dpkg-deb --root-owner-group -Zxz --build $(DEB_TREE) $@ >/dev/null

# CI: install the package (apt resolves its Depends), use it, purge it.
deb-check: $(DEB)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ./$(DEB)
	emitd version
	emitd lint /etc/emitd/emitd.yml
	getent passwd emitd
	test -L /etc/systemd/system/multi-user.target.wants/emitd.service
	systemd-analyze verify /lib/systemd/system/emitd.service
	man -w emitd >/dev/null
	dpkg --purge emitd
	test ! -e /usr/sbin/emitd && test ! -e /etc/emitd/emitd.yml
	test ! -e /etc/systemd/system/multi-user.target.wants/emitd.service

# systemd-analyze verify of deploy/emitd.service as it is, but for ExecStart's
# binary (not installed here: this build's) and the man page it documents
# (found through MANPATH). verify exits 0 on an unknown key or a bad value
# and only says so: any word from it fails the check.
check-unit: $(OUTPUT)/emitd
	$(Q)rm -rf $(OUTPUT)/check-unit && mkdir -p $(OUTPUT)/check-unit/man/man8
	$(Q)cp docs/emitd.8 $(OUTPUT)/check-unit/man/man8/emitd.8
	$(Q)sed 's|/usr/sbin/emitd|$(abspath $(OUTPUT))/emitd|' deploy/emitd.service \
		> $(OUTPUT)/check-unit/emitd.service
	$(call msg,VERIFY,deploy/emitd.service)
	$(Q)out=$$(MANPATH=$(abspath $(OUTPUT))/check-unit/man systemd-analyze verify \
		$(OUTPUT)/check-unit/emitd.service 2>&1) && [ -z "$$out" ] || \
		{ echo "$$out"; echo "check-unit: systemd-analyze verify deploy/emitd.service failed"; exit 1; }

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT) $(ASAN_OUTPUT)
