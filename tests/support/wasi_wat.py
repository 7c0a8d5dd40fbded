"""WAT modules for tests: ones that print what WASI hands them (env, argv[0], the whole argv), so cases
written against them pass or fail only by what the sandbox or the host passed in; and one that branches on its
input's first byte (:func:`first_byte_wat`), for versions that differ on one input only."""

_IMPORTS = '''(import "wasi_snapshot_preview1" "{sizes}" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "{get}" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)'''


def env_echo_wat() -> str:
    """Prints its environment as WASI gives it: ``K=V`` entries, each ended by a NUL byte."""
    return f'''(module {_IMPORTS.format(sizes="environ_sizes_get", get="environ_get")}
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 16384)))
    (i32.store (i32.const 8) (i32.const 16384)) (i32.store (i32.const 12) (i32.load (i32.const 4)))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))'''


def env_echo_stdout(env: dict[str, str]) -> str:
    """What :func:`env_echo_wat` prints under ``env`` (the sandbox passes it sorted)."""
    return "".join(f"{k}={v}\0" for k, v in sorted(env.items()))


def mode_wat() -> str:
    """``{"mode": "count"}`` with no env at all, ``{"mode": "hash"}`` with any (a module whose
    default mode a deployment's ``env: {MODE: hash}`` changes)."""
    return f'''(module {_IMPORTS.format(sizes="environ_sizes_get", get="environ_get")}
  (data (i32.const 64) "{{\\"mode\\": \\"count\\"}}\\0a{{\\"mode\\": \\"hash\\"}}\\0a")
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 8) (select (i32.const 82) (i32.const 64) (i32.load (i32.const 0))))
    (i32.store (i32.const 12) (select (i32.const 17) (i32.const 18) (i32.load (i32.const 0))))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))'''


def argv0_wat() -> str:
    """Prints its argv[0] (the program name the sandbox or the host runs it as) and a newline."""
    return f'''(module {_IMPORTS.format(sizes="args_sizes_get", get="args_get")}
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 16384)))
    (i32.store8 (i32.add (i32.const 16384) (i32.sub (i32.load (i32.const 4)) (i32.const 1))) (i32.const 10))
    (i32.store (i32.const 8) (i32.const 16384)) (i32.store (i32.const 12) (i32.load (i32.const 4)))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))'''


def argv_echo_wat() -> str:
    """Prints its whole argv as WASI gives it: argv[0] and every argument, each ended by a NUL byte."""
    return f'''(module {_IMPORTS.format(sizes="args_sizes_get", get="args_get")}
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 16384)))
    (i32.store (i32.const 8) (i32.const 16384)) (i32.store (i32.const 12) (i32.load (i32.const 4)))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))'''


def argv_echo_stdout(argv: list[str]) -> bytes:
    """What :func:`argv_echo_wat` prints when run with ``argv`` (argv[0] first)."""
    return b"".join(a.encode() + b"\0" for a in argv)


def first_byte_wat(tag: str, byte: int, then: str, otherwise: str) -> str:
    """Reads stdin's first byte; runs ``then`` (WAT instructions) when it is ``byte``, else ``otherwise``.
    Both may call ``$spin`` (``n`` loop steps: fuel grows with ``n``) and ``$exit`` (``proc_exit``);
    ``tag`` names the module, so two versions differ in bytes."""
    return f"""
(module ${tag}
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $spin (param $n i32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const {byte})) (then {then} (return)))
    {otherwise}))
"""


_FILE_IMPORTS = '''(import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 2)'''


def upper_file_wat(src: str = "in.txt", dst: str = "out.txt", tail: str = "") -> str:
    """Reads the file ``src`` of the first preopened directory (fd 3), upper-cases its ASCII letters and
    writes the result to the file ``dst`` there (created or truncated), nothing to stdout; then ``tail``
    (e.g. ``unreachable``, or a loop that never ends). A missing ``src`` reads as empty. At most 64 KiB."""
    return f'''(module {_FILE_IMPORTS}
  (data (i32.const 16) "{src}") (data (i32.const 48) "{dst}")
  (func (export "_start") (local $fd i32) (local $n i32) (local $i i32) (local $c i32)
    (if (i32.eqz (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const {len(src)}) (i32.const 0)
                   (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0)))
      (then
        (local.set $fd (i32.load (i32.const 0)))
        (i32.store (i32.const 80) (i32.const 65536)) (i32.store (i32.const 84) (i32.const 65536))
        (drop (call $r (local.get $fd) (i32.const 80) (i32.const 1) (i32.const 4)))
        (local.set $n (i32.load (i32.const 4)))
        (drop (call $close (local.get $fd)))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
        (then (i32.store8 (i32.add (i32.const 65536) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 48) (i32.const {len(dst)}) (i32.const 9)
                (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0)))
    (i32.store (i32.const 80) (i32.const 65536)) (i32.store (i32.const 84) (local.get $n))
    (drop (call $w (i32.load (i32.const 0)) (i32.const 80) (i32.const 1) (i32.const 4)))
    {tail}))'''


def flood_file_wat(name: str = "big") -> str:
    """Writes 64 KiB blocks to the file ``name`` of the first preopened directory, without end."""
    return f'''(module {_FILE_IMPORTS}
  (data (i32.const 16) "{name}")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const {len(name)}) (i32.const 9)
                (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0)))
    (i32.store (i32.const 80) (i32.const 65536)) (i32.store (i32.const 84) (i32.const 65536))
    (loop $l (drop (call $w (i32.load (i32.const 0)) (i32.const 80) (i32.const 1) (i32.const 4))) (br $l))))'''
