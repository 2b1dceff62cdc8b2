/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The probe site's registers and arguments, for emit.bpf.c (x86-64).
 *
 * The registers are copied once per event by name (CO-RE): the verifier
 * refuses variable offsets into the context, so arguments are then picked
 * from this copy by index, as the agent located them (struct emitd_arg_loc).
 * BPF only; include after vmlinux.h and bpf_helpers.h.
 */
#ifndef EMITD_REGS_BPF_H
#define EMITD_REGS_BPF_H

#include <asm-generic/errno-base.h>	/* vmlinux.h has types, no errno macros */
#include "emitd.h"

/* Indexed by enum emitd_reg. */
struct emitd_regs {
	__u64 r[EMITD_NR_REGS + 1];
};

static __always_inline void load_regs(struct pt_regs *ctx, struct emitd_regs *regs)
{
	regs->r[EMITD_REG_AX] = ctx->ax;
	regs->r[EMITD_REG_BX] = ctx->bx;
	regs->r[EMITD_REG_CX] = ctx->cx;
	regs->r[EMITD_REG_DX] = ctx->dx;
	regs->r[EMITD_REG_SI] = ctx->si;
	regs->r[EMITD_REG_DI] = ctx->di;
	regs->r[EMITD_REG_BP] = ctx->bp;
	regs->r[EMITD_REG_SP] = ctx->sp;
	regs->r[EMITD_REG_R8] = ctx->r8;
	regs->r[EMITD_REG_R9] = ctx->r9;
	regs->r[EMITD_REG_R10] = ctx->r10;
	regs->r[EMITD_REG_R11] = ctx->r11;
	regs->r[EMITD_REG_R12] = ctx->r12;
	regs->r[EMITD_REG_R13] = ctx->r13;
	regs->r[EMITD_REG_R14] = ctx->r14;
	regs->r[EMITD_REG_R15] = ctx->r15;
	regs->r[EMITD_REG_IP] = ctx->ip;
}

/* Sign- or zero-extend the low |size| bytes of @v. */
static __always_inline __u64 extend(__u64 v, __s8 size)
{
	int bits = (size < 0 ? -size : size) * 8;

	if (bits <= 0 || bits >= 64)
		return v;
	v <<= 64 - bits;
	if (size < 0)
		return (__u64)((__s64)v >> (64 - bits));
	return v >> (64 - bits);
}

/* Read |size| bytes (1, 2, 4, else 8) of user memory at @addr into *@out. */
static __always_inline long read_mem(__u64 addr, __s8 size, __u64 *out)
{
	__u64 v = 0;
	long err;

	switch (size < 0 ? -size : size) {
	case 1:
		err = bpf_probe_read_user(&v, 1, (void *)addr);
		break;
	case 2:
		err = bpf_probe_read_user(&v, 2, (void *)addr);
		break;
	case 4:
		err = bpf_probe_read_user(&v, 4, (void *)addr);
		break;
	default:
		err = bpf_probe_read_user(&v, 8, (void *)addr);
		break;
	}
	*out = v;
	return err;
}

/*
 * Argument @n of the probe per @c's locations: 0, -EINVAL for an argument
 * the config does not locate, -EFAULT when its memory cannot be read.
 */
static __always_inline long get_arg(const struct emitd_probe_cfg *c,
				    const struct emitd_regs *regs, __u32 n, __u64 *out)
{
	const struct emitd_arg_loc *l;
	__u64 v;

	if (n >= EMITD_MAX_ARGS)
		return -EINVAL;
	l = &c->args[n];
	switch (l->kind) {
	case EMITD_LOC_CONST:
		*out = l->imm;
		return 0;
	case EMITD_LOC_REG:
		v = regs->r[l->reg < EMITD_NR_REGS ? l->reg : 0];
		break;
	case EMITD_LOC_REG_DEREF:
		if (read_mem(regs->r[l->reg < EMITD_NR_REGS ? l->reg : 0] + l->off, l->size, &v))
			return -EFAULT;
		break;
	default:
		return -EINVAL;
	}
	*out = extend(v, l->size);
	return 0;
}

#endif /* EMITD_REGS_BPF_H */
