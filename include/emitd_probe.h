/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * emitd_probe.h - cheap, USDT-compatible probe sites for applications.
 *
 *	#include <emitd_probe.h>
 *
 *	EMITD_PROBE2(myapp, request_done, route, latency_us);
 *	EMITD_PROBE1(myapp, payload, &ratio);		(a double: by pointer)
 *
 *	EMITD_PROBE_FUNC void my_hook(const char *what, long n) { ... }
 *
 * The macros are the standard <sys/sdt.h> probes (STAP_PROBEn): every site
 * gets a `.note.stapsdt` note, so emitd, bpftrace (`usdt:path:provider:name`)
 * and libbpf's bpf_program__attach_usdt() all find it. There are no
 * semaphores: an unattached site costs one nop and nothing else.
 *
 * The site instruction (x86-64)
 *   sys/sdt.h puts a 1-byte `nop` (90) at each site. This header makes it the
 *   5-byte nop `0f 1f 44 00 00` (nopl 0x0(%rax,%rax,1)) instead, because Linux
 *   6.18 optimizes a uprobe on exactly that instruction into a call:
 *	nop5 `0f 1f 44 00 00`		~340 ns per hit (optimized uprobe)
 *	1-byte nop `90`			~460 ns per hit (emulated)
 *	an ordinary instruction		~9 us per hit (single-stepped out of line)
 *   Only these exact bytes qualify; gas would shrink a plain
 *   `nopl 0x0(%rax,%rax,1)` to the 4-byte `0f 1f 40 00`, so the site is
 *   written with the `{disp8}` pseudo-prefix. Works with gcc and clang.
 *
 *   sys/sdt.h expands _SDT_NOP only when a probe macro is used, so the
 *   redefinition below applies to every STAP_PROBE/DTRACE_PROBE that follows
 *   this header in the same translation unit, ours or not.
 *
 *   Check a binary: the note's Location must hold the nop5.
 *	readelf -n app | grep -A3 stapsdt		(Location: 0x...)
 *	objdump -d --start-address=0x... --stop-address=0x...+5 app
 *	  -> 0f 1f 44 00 00	nopl   0x0(%rax,%rax,1)
 *
 * Arguments
 *   Up to 6, integers or pointers (sys/sdt.h records where each one lives:
 *   a register, a stack slot or a constant). Doubles must be passed by
 *   pointer: on x86-64 they live in XMM registers, which a uprobe (and so a
 *   USDT argument spec) cannot read. emitd then reads them with a `deref: f64`
 *   value source. Strings are passed as `const char *`.
 *
 *   A probe reads argument memory (a pointed-to double, a string) when the
 *   site executes, and the compiler does not know that: each macro therefore
 *   puts a compiler memory barrier on both sides of the site, so stores to the
 *   pointed-to data happen before the site and are not moved above it.
 *
 * Functions as probe sites
 *   EMITD_PROBE_FUNC keeps a function a real, separate symbol that every call
 *   reaches, so a uprobe on `symbol+0` fires for every call: not inlined,
 *   not cloned into .constprop/.isra copies, not merged with an identical
 *   function (gcc's noipa covers all three), kept even if unreferenced.
 *   Add `__attribute__((patchable_function_entry(5, 0)))` to put nops at the
 *   entry (gcc emits five 1-byte nops: an emulated site, not a nop5 one).
 *
 * Other architectures
 *   The site stays sys/sdt.h's own `nop` and the macros are plain
 *   STAP_PROBEn; EMITD_PROBE_SITE_NOP5 is 0 there.
 */
#ifndef EMITD_PROBE_H
#define EMITD_PROBE_H

#include <sys/sdt.h>

#if defined(__x86_64__)
#undef _SDT_NOP
#define _SDT_NOP	%{disp8%} nopl 0(%%rax,%%rax,1)
#define EMITD_PROBE_SITE_NOP5	1
#else
#define EMITD_PROBE_SITE_NOP5	0
#endif

#ifndef __has_attribute
#define __has_attribute(x)	0
#endif

#if __has_attribute(noipa)
#define __emitd_noipa	noipa,
#else
#define __emitd_noipa
#endif

#if __has_attribute(noclone)
#define __emitd_noclone	noclone,
#else
#define __emitd_noclone
#endif

#define EMITD_PROBE_FUNC \
	__attribute__((__emitd_noipa __emitd_noclone noinline, used))

/* The compiler must not keep probe-read memory in registers across a site. */
#define emitd_probe_barrier()	__asm__ __volatile__("" ::: "memory")

#define __emitd_site(site)		\
	do {				\
		emitd_probe_barrier();	\
		site;			\
		emitd_probe_barrier();	\
	} while (0)

#define EMITD_PROBE(provider, name) \
	__emitd_site(STAP_PROBE(provider, name))
#define EMITD_PROBE1(provider, name, a1) \
	__emitd_site(STAP_PROBE1(provider, name, a1))
#define EMITD_PROBE2(provider, name, a1, a2) \
	__emitd_site(STAP_PROBE2(provider, name, a1, a2))
#define EMITD_PROBE3(provider, name, a1, a2, a3) \
	__emitd_site(STAP_PROBE3(provider, name, a1, a2, a3))
#define EMITD_PROBE4(provider, name, a1, a2, a3, a4) \
	__emitd_site(STAP_PROBE4(provider, name, a1, a2, a3, a4))
#define EMITD_PROBE5(provider, name, a1, a2, a3, a4, a5) \
	__emitd_site(STAP_PROBE5(provider, name, a1, a2, a3, a4, a5))
#define EMITD_PROBE6(provider, name, a1, a2, a3, a4, a5, a6) \
	__emitd_site(STAP_PROBE6(provider, name, a1, a2, a3, a4, a5, a6))

#endif /* EMITD_PROBE_H */
