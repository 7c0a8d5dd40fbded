;; sum-wat v2: passes its unit tests, but exits 3 whenever the deployment sets any env var.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"sum\": 6}")
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 0)) (then (call $exit (i32.const 3))))
    (i32.store (i32.const 16) (i32.const 64)) (i32.store (i32.const 20) (i32.const 10))
    (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
