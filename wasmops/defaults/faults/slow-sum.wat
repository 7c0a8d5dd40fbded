;; sum-wat v3: right answers, but a busy loop makes every call burn ~40x the fuel.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"sum\": 6}")
  (func (export "_start") (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))
    (i32.store (i32.const 16) (i32.const 64)) (i32.store (i32.const 20) (i32.const 10))
    (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
