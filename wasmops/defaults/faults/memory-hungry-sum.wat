;; sum-wat v2: right answers and passes its unit tests under its module.yaml's 16Mi, but first takes
;; 12 MiB of memory, more than its deployment grants (8Mi): through the host it exits 3 (out of memory).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"sum\": 6}")
  (func (export "_start")
    (if (i32.lt_s (memory.grow (i32.const 192)) (i32.const 0)) (then (call $exit (i32.const 3))))
    (i32.store (i32.const 16) (i32.const 64)) (i32.store (i32.const 20) (i32.const 10))
    (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
