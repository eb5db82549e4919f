package kspp

const (
	noModules = "Kiln builds everything in (CONFIG_MODULES=n), so module options do not exist"
	laterOnly = "introduced after Linux 6.1"
	clangOnly = "needs Clang; Kiln builds with Debian's GCC 12"
	gccPlugin = "GCC plugins need gcc-12-plugin-dev and per-build random seeds that fight reproducible builds; planned as a follow-up with a seed derived from the spec"
)

func y(name, reason string) Rule { return Rule{Kind: Kconfig, Name: name, Value: "y", Reason: reason} }
func n(name, reason string) Rule { return Rule{Kind: Kconfig, Name: name, Value: "n", Reason: reason} }
func v(name, value, reason string) Rule {
	return Rule{Kind: Kconfig, Name: name, Value: value, Reason: reason}
}

func na(r Rule, why string) Rule {
	r.Status, r.Why = NotApplicable, why
	return r
}

func except(r Rule, why string) Rule {
	r.Status, r.Why = Exception, why
	return r
}

var kconfigRules = []Rule{
	// Memory and allocator hardening.
	y("CONFIG_SLUB_DEBUG", "allows slub_debug checks and hardened freelists"),
	n("CONFIG_SLAB_MERGE_DEFAULT", "separate slab caches make heap overflows harder to aim"),
	y("CONFIG_SLAB_FREELIST_RANDOM", "randomizes the slab freelist order"),
	y("CONFIG_SLAB_FREELIST_HARDENED", "obfuscates and checks slab freelist pointers"),
	y("CONFIG_SHUFFLE_PAGE_ALLOCATOR", "randomizes the page allocator's free lists"),
	y("CONFIG_INIT_ON_ALLOC_DEFAULT_ON", "zeroes heap memory on allocation"),
	y("CONFIG_INIT_ON_FREE_DEFAULT_ON", "zeroes heap memory on free"),
	y("CONFIG_INIT_STACK_ALL_ZERO", "zero-initializes every stack variable"),
	y("CONFIG_HARDENED_USERCOPY", "bounds-checks copies between kernel and user memory"),
	y("CONFIG_FORTIFY_SOURCE", "compile- and run-time buffer overflow checks in string functions"),
	y("CONFIG_KFENCE", "low-overhead sampling detector for heap memory errors"),
	y("CONFIG_ZERO_CALL_USED_REGS", "clears caller-used registers on return, shrinking ROP gadgets"),
	v("CONFIG_DEFAULT_MMAP_MIN_ADDR", "65536", "keeps user mappings away from NULL"),
	v("CONFIG_ARCH_MMAP_RND_BITS", "32", "maximum mmap ASLR entropy on x86-64"),
	n("CONFIG_COMPAT_BRK", "randomizes the heap start (brk)"),
	n("CONFIG_USERFAULTFD", "userfaultfd is a favourite tool for widening kernel race windows"),
	y("CONFIG_PAGE_TABLE_CHECK", "catches an anonymous page mapped twice writable, a use-after-free primitive"),
	y("CONFIG_PAGE_TABLE_CHECK_ENFORCED", "page table checking on without a boot parameter"),
	y("CONFIG_PROC_MEM_NO_FORCE", "/proc/PID/mem cannot write past a mapping's permissions (the kernel side of proc_mem.force_override=never)"),
	// Kernel text, stacks, layout.
	y("CONFIG_STRICT_KERNEL_RWX", "kernel text read-only, data non-executable"),
	y("CONFIG_DEBUG_WX", "warns at boot about writable and executable kernel mappings"),
	y("CONFIG_STACKPROTECTOR_STRONG", "stack canaries on functions with local arrays or addresses"),
	y("CONFIG_VMAP_STACK", "guard pages around kernel stacks"),
	y("CONFIG_SCHED_STACK_END_CHECK", "detects kernel stack overflow at schedule time"),
	y("CONFIG_RANDOMIZE_BASE", "kernel address space layout randomization (KASLR)"),
	y("CONFIG_RANDOMIZE_MEMORY", "randomizes the kernel's physical memory mapping regions"),
	y("CONFIG_RANDOMIZE_KSTACK_OFFSET_DEFAULT", "randomizes the kernel stack offset per syscall"),
	// Data-structure integrity.
	y("CONFIG_DEBUG_LIST", "checks linked-list pointers on manipulation"),
	y("CONFIG_DEBUG_SG", "checks scatter-gather tables"),
	y("CONFIG_DEBUG_NOTIFIERS", "checks notifier call chains"),
	y("CONFIG_DEBUG_CREDENTIALS", "checks credential reference counts"),
	y("CONFIG_DEBUG_VIRTUAL", "checks virtual-to-physical address conversions"),
	y("CONFIG_BUG_ON_DATA_CORRUPTION", "turns detected data corruption into a BUG instead of a warning"),
	y("CONFIG_UBSAN_BOUNDS", "array bounds checking"),
	y("CONFIG_UBSAN_SANITIZE_ALL", "applies UBSAN bounds checking to the whole kernel"),
	y("CONFIG_UBSAN_TRAP", "a bounds violation traps instead of only logging"),
	y("CONFIG_PANIC_ON_OOPS", "an oops panics (and, with panic=N, reboots into the A/B fallback)"),
	// x86-64.
	y("CONFIG_PAGE_TABLE_ISOLATION", "Meltdown mitigation; keeps kernel mappings out of user page tables"),
	y("CONFIG_RETPOLINE", "Spectre v2 mitigation"),
	y("CONFIG_CPU_MITIGATIONS", "builds every CPU vulnerability mitigation the kernel offers"),
	y("CONFIG_X86_KERNEL_IBT", "indirect branch tracking (forward-edge CFI) on CPUs with CET"),
	y("CONFIG_X86_UMIP", "blocks SGDT/SIDT and friends from user mode"),
	y("CONFIG_LEGACY_VSYSCALL_NONE", "no fixed-address vsyscall page"),
	n("CONFIG_IA32_EMULATION", "removes the 32-bit syscall attack surface"),
	n("CONFIG_X86_X32_ABI", "removes the x32 syscall attack surface"),
	n("CONFIG_MODIFY_LDT_SYSCALL", "removes modify_ldt, historically exploitable"),
	n("CONFIG_X86_IOPL_IOPERM", "no direct port I/O from user space"),
	n("CONFIG_X86_MSR", "no /dev/cpu/*/msr"),
	y("CONFIG_INTEL_IOMMU_DEFAULT_ON", "DMA isolation from devices on Intel"),
	y("CONFIG_AMD_IOMMU", "DMA isolation from devices on AMD"),
	y("CONFIG_IOMMU_DEFAULT_DMA_STRICT", "IOMMU TLB invalidated synchronously on unmap"),
	y("CONFIG_EFI_DISABLE_PCI_DMA", "no bus-master DMA before the IOMMU is up"),
	y("CONFIG_RESET_ATTACK_MITIGATION", "asks firmware to wipe RAM after an unclean reset"),
	y("CONFIG_INTEL_IOMMU_SVM", "PASID-capable devices on Intel are confined by the IOMMU too"),
	y("CONFIG_AMD_IOMMU_V2", "PASID-capable devices on AMD are confined by the IOMMU too"),
	y("CONFIG_MICROCODE_INTEL", "loads Intel CPU microcode fixes early"),
	y("CONFIG_MICROCODE_AMD", "loads AMD CPU microcode fixes early"),
	y("CONFIG_SCHED_CORE", "core scheduling: mutually untrusted tasks never share an SMT core"),
	y("CONFIG_SYN_COOKIES", "survives SYN floods against the API ports"),
	y("CONFIG_WERROR", "a compiler warning fails the kernel build"),
	// Security modules and policy.
	y("CONFIG_SECURITY_DMESG_RESTRICT", "kernel log readable only with CAP_SYSLOG"),
	y("CONFIG_SECURITY_YAMA", "ptrace scope restriction"),
	y("CONFIG_SECURITY_LANDLOCK", "unprivileged sandboxing for workloads"),
	y("CONFIG_SECURITY_LOCKDOWN_LSM_EARLY", "kernel lockdown from early boot"),
	y("CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "root cannot read or modify kernel memory"),
	y("CONFIG_BPF_UNPRIV_DEFAULT_OFF", "no unprivileged BPF"),
	y("CONFIG_STATIC_USERMODEHELPER", "the kernel cannot be made to run arbitrary user-mode helpers"),
	y("CONFIG_SECCOMP_FILTER", "syscall filtering for workloads"),
	// Attack surface removed.
	n("CONFIG_DEVMEM", "no /dev/mem"),
	n("CONFIG_DEVPORT", "no /dev/port"),
	n("CONFIG_PROC_KCORE", "no /proc/kcore"),
	n("CONFIG_KEXEC", "kexec would bypass Secure Boot's chain of trust"),
	n("CONFIG_KEXEC_FILE", "kexec would bypass Secure Boot's chain of trust"),
	n("CONFIG_HIBERNATION", "a hibernation image could be replaced"),
	n("CONFIG_BINFMT_MISC", "no arbitrary binary format handlers"),
	n("CONFIG_LEGACY_PTYS", "no BSD-style ptys"),
	n("CONFIG_LDISC_AUTOLOAD", "no line discipline loading by unprivileged users"),
	n("CONFIG_USELIB", "removes the uselib syscall"),
	n("CONFIG_IO_URING", "io_uring has had many privilege escalations; nothing in Kiln needs it"),
	n("CONFIG_ACPI_CUSTOM_METHOD", "no ACPI method injection"),
	n("CONFIG_MAGIC_SYSRQ", "no SysRq on a machine without a local operator"),
	n("CONFIG_DEBUG_FS", "debugfs exposes kernel internals"),
	n("CONFIG_COMPAT_VDSO", "no fixed-address vDSO"),
	n("CONFIG_PROC_VMCORE", "no crash dump of kernel memory"),
	n("CONFIG_X86_VSYSCALL_EMULATION", "no vsyscall page at all"),
	n("CONFIG_MODULES", "no loadable modules: every driver is built in and measured with the UKI"),

	na(y("CONFIG_MODULE_SIG_FORCE", "only signed modules load"), noModules),
	na(y("CONFIG_STRICT_MODULE_RWX", "module text read-only"), noModules),
	na(n("CONFIG_DEVKMEM", "no /dev/kmem"), "removed in Linux 5.13"),
	na(n("CONFIG_HARDENED_USERCOPY_FALLBACK", "strict usercopy whitelist"), "removed in Linux 5.16"),
	na(n("CONFIG_HARDENED_USERCOPY_PAGESPAN", "debug-only usercopy check"), "removed in Linux 5.18"),
	na(y("CONFIG_LIST_HARDENED", "cheap list integrity checks"), laterOnly+" (6.6); DEBUG_LIST covers it"),
	na(y("CONFIG_RANDOM_KMALLOC_CACHES", "randomized kmalloc caches"), laterOnly+" (6.6)"),
	na(y("CONFIG_SLAB_BUCKETS", "separate buckets for user-controlled allocations"), laterOnly+" (6.11)"),
	na(y("CONFIG_X86_USER_SHADOW_STACK", "user-space shadow stacks"), laterOnly+" (6.6)"),
	na(y("CONFIG_CFI_CLANG", "forward-edge control-flow integrity"), clangOnly),
	na(y("CONFIG_SHADOW_CALL_STACK", "backward-edge control-flow integrity"), "arm64 only"),
	na(n("CONFIG_SECURITY_SELINUX_DISABLE", "SELinux cannot be switched off at run time"), "Kiln builds no SELinux"),

	except(y("CONFIG_BPF_JIT_ALWAYS_ON", "removes the BPF interpreter, a Spectre v2 gadget"),
		"in 6.1 BPF_JIT depends on MODULES; without modules there is no JIT, and unprivileged BPF is off (BPF_UNPRIV_DEFAULT_OFF, sysctl unprivileged_bpf_disabled=1)"),
	except(n("CONFIG_INET_DIAG", "hides socket details used to find kernel addresses"),
		"Kubernetes needs socket diagnostics (issue 18, kernel/config/20-kubernetes.config); KSPP's reason is Linux before 4.1 (\"assists heap memory attacks\"), whose replies derived socket cookies from kernel addresses; 6.1 generates them"),
	except(y("CONFIG_GCC_PLUGIN_STACKLEAK", "clears the kernel stack on syscall return"), gccPlugin),
	except(y("CONFIG_RANDSTRUCT_FULL", "randomizes the layout of sensitive structures"),
		"Kiln images are public and reproducible, so any seed ships with the image and gives no secrecy against someone holding it; "+gccPlugin),
	except(y("CONFIG_GCC_PLUGIN_LATENT_ENTROPY", "gathers entropy from kernel execution"),
		"Kiln's entropy comes from virtio-rng, the TPM and RDRAND; "+gccPlugin),
}

var cmdlineRules = []Rule{
	{Kind: Cmdline, Name: "slab_nomerge", Reason: "never merge slab caches, even where Kconfig would"},
	{Kind: Cmdline, Name: "init_on_alloc", Value: "1", Reason: "zero heap memory on allocation"},
	{Kind: Cmdline, Name: "init_on_free", Value: "1", Reason: "zero heap memory on free"},
	{Kind: Cmdline, Name: "page_alloc.shuffle", Value: "1", Reason: "randomize page allocator free lists"},
	{Kind: Cmdline, Name: "pti", Value: "on", Reason: "page table isolation even on CPUs that claim not to need it"},
	{Kind: Cmdline, Name: "randomize_kstack_offset", Value: "on", Reason: "per-syscall kernel stack offset randomization"},
	{Kind: Cmdline, Name: "vsyscall", Value: "none", Reason: "no vsyscall page"},
	{Kind: Cmdline, Name: "debugfs", Value: "off", Reason: "no debugfs even if built"},
	{Kind: Cmdline, Name: "lockdown", Value: "confidentiality", Reason: "root cannot read or modify kernel memory"},
	{Kind: Cmdline, Name: "oops", Value: "panic", Reason: "an oops panics; with panic=N the machine reboots into the A/B fallback"},
	{Kind: Cmdline, Name: "iommu.strict", Value: "1", Reason: "synchronous IOMMU TLB invalidation"},
	{Kind: Cmdline, Name: "iommu.passthrough", Value: "0", Reason: "DMA goes through the IOMMU"},
	{Kind: Cmdline, Name: "iommu", Value: "force", Reason: "DMA goes through the IOMMU even where the kernel would judge it unneeded"},
	{Kind: Cmdline, Name: "proc_mem.force_override", Value: "never", Reason: "/proc/PID/mem cannot write past a mapping's permissions"},
	{Kind: Cmdline, Name: "mitigations", Value: "auto,nosmt", Reason: "CPU mitigations, including turning SMT off where it leaks"},
	{Kind: Cmdline, Name: "module.sig_enforce", Value: "1", Reason: "only signed modules load", Status: NotApplicable, Why: noModules},
	{Kind: Cmdline, Name: "ia32_emulation", Value: "0", Reason: "no 32-bit syscalls", Status: NotApplicable, Why: laterOnly + " (6.7); CONFIG_IA32_EMULATION is off"},
	{Kind: Cmdline, Name: "cfi", Value: "kcfi", Reason: "kernel CFI", Status: NotApplicable, Why: clangOnly},
}

var sysctlRules = []Rule{
	{Kind: Sysctl, Name: "kernel.kptr_restrict", Value: "2", Reason: "hide kernel pointers from everyone"},
	{Kind: Sysctl, Name: "kernel.dmesg_restrict", Value: "1", Reason: "kernel log only with CAP_SYSLOG"},
	{Kind: Sysctl, Name: "kernel.perf_event_paranoid", Value: "3", Reason: "no perf events for unprivileged users (Debian's level 3)"},
	{Kind: Sysctl, Name: "kernel.yama.ptrace_scope", Value: "2", Reason: "ptrace attach only with CAP_SYS_PTRACE (3 would forbid debugging containers for good)"},
	{Kind: Sysctl, Name: "kernel.unprivileged_bpf_disabled", Value: "1", Reason: "no unprivileged BPF, and it cannot be turned back on"},
	{Kind: Sysctl, Name: "kernel.randomize_va_space", Value: "2", Reason: "full user-space ASLR"},
	{Kind: Sysctl, Name: "dev.tty.ldisc_autoload", Value: "0", Reason: "no line discipline autoloading"},
	{Kind: Sysctl, Name: "fs.protected_symlinks", Value: "1", Reason: "no symlink races in sticky directories"},
	{Kind: Sysctl, Name: "fs.protected_hardlinks", Value: "1", Reason: "no hardlinks to files one cannot read or write"},
	{Kind: Sysctl, Name: "fs.protected_fifos", Value: "2", Reason: "no writes to foreign FIFOs in sticky directories"},
	{Kind: Sysctl, Name: "fs.protected_regular", Value: "2", Reason: "no writes to foreign files in sticky directories"},
	{Kind: Sysctl, Name: "fs.suid_dumpable", Value: "0", Reason: "no core dumps of setuid programs"},
	{Kind: Sysctl, Name: "vm.mmap_min_addr", Value: "65536", Reason: "no mappings near NULL"},
	{Kind: Sysctl, Name: "net.ipv4.tcp_syncookies", Value: "1", Reason: "SYN cookies when the backlog overflows (needs CONFIG_SYN_COOKIES)"},
	{Kind: Sysctl, Name: "kernel.sysrq", Value: "0", Reason: "no SysRq", Status: NotApplicable, Why: "CONFIG_MAGIC_SYSRQ is off, so the sysctl does not exist"},
	{Kind: Sysctl, Name: "kernel.kexec_load_disabled", Value: "1", Reason: "no kexec", Status: NotApplicable, Why: "CONFIG_KEXEC is off, so the sysctl does not exist"},
	{Kind: Sysctl, Name: "vm.unprivileged_userfaultfd", Value: "0", Reason: "no unprivileged userfaultfd", Status: NotApplicable, Why: "CONFIG_USERFAULTFD is off, so the sysctl does not exist"},
	{Kind: Sysctl, Name: "net.core.bpf_jit_harden", Value: "2", Reason: "constant blinding in the BPF JIT", Status: NotApplicable, Why: "no BPF JIT without modules in 6.1"},
	{Kind: Sysctl, Name: "dev.tty.legacy_tiocsti", Value: "0", Reason: "no TIOCSTI injection", Status: NotApplicable, Why: laterOnly + " (6.2)"},
	{Kind: Sysctl, Name: "kernel.io_uring_disabled", Value: "2", Reason: "no io_uring", Status: NotApplicable, Why: laterOnly + " (6.6)"},
}
