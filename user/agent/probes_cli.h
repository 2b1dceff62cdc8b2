/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * probes_cli: what a binary offers to probe, and a starter spec from it.
 *
 *   emitd probes [--usdt | --functions] [-v] BINARY [PATTERN]
 *   emitd probes [--usdt | --functions] [-v] --pid PID [PATTERN]
 *   emitd init --binary PATH [--out FILE] [--namespace NS] [--target NAME] [--force]
 *
 * `probes` lists, as `bpftrace -l` and bcc's `tplist` do, each USDT probe
 * (provider:name, its sites, operands, semaphore, site kind, the operands
 * emitd cannot read) and each function symbol with the kind of its first
 * instruction; with --pid, the process's executable and every shared
 * library it maps, through /proc/PID/root. `init` writes a spec with one
 * counter per USDT probe that `emitd lint` accepts. Both read ELF files only
 * (agent/elf_site): no BPF, no privileges beyond reading the files.
 *
 * Both return the exit status: 0, 1 error, 2 usage.
 */
#ifndef EMITD_PROBES_CLI_H
#define EMITD_PROBES_CLI_H

int probes_cli__main(int argc, char **argv);
int probes_cli__init_main(int argc, char **argv);

#endif /* EMITD_PROBES_CLI_H */
