;; sum-wat: reads a JSON array of small non-negative integers, e.g. [1,2,3], from stdin and
;; writes {"sum": 6} to stdout. Any other character (a sign, a letter, a quote ...) writes a
;; message to stderr and exits with status 1. Plain WASI preview 1: fd_read, fd_write, proc_exit.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)

  ;; Memory map: 0..8 iovec, 8..12 nread/nwritten, 16..48 output text, 64.. error text,
  ;; 1024..65536 input buffer.
  (data (i32.const 16) "{\"sum\": ")
  (data (i32.const 64) "sum-wat: expected a JSON array of non-negative integers\n")
  (global $in i32 (i32.const 1024))
  (global $cap i32 (i32.const 64512))

  ;; Write len bytes at ptr to fd.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $fail
    (call $write (i32.const 2) (i32.const 64) (i32.const 56))
    (call $proc_exit (i32.const 1)))

  ;; Read all of stdin into the input buffer; returns its length.
  (func $read_all (result i32)
    (local $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (local.get $len) (global.get $cap)))
        (i32.store (i32.const 0) (i32.add (global.get $in) (local.get $len)))
        (i32.store (i32.const 4) (i32.sub (global.get $cap) (local.get $len)))
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
          (then (call $fail)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $len (i32.add (local.get $len) (i32.load (i32.const 8))))
        (br $more)))
    (local.get $len))

  (func $start (export "_start")
    (local $len i32) (local $i i32) (local $c i32) (local $sum i64)
    (local $num i64) (local $p i32) (local $open i32) (local $seen i32)
    (local.set $len (call $read_all))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (global.get $in) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        ;; digit: accumulate the current number
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
          (then
            (local.set $num (i64.add (i64.mul (local.get $num) (i64.const 10))
                                     (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
            (br $next)))
        ;; a separator ends the current number
        (local.set $sum (i64.add (local.get $sum) (local.get $num)))
        (local.set $num (i64.const 0))
        (br_if $next (i32.eq (local.get $c) (i32.const 44)))   ;; ,
        (br_if $next (i32.eq (local.get $c) (i32.const 32)))   ;; space
        (br_if $next (i32.eq (local.get $c) (i32.const 10)))   ;; \n
        (br_if $next (i32.eq (local.get $c) (i32.const 13)))   ;; \r
        (br_if $next (i32.eq (local.get $c) (i32.const 9)))    ;; \t
        (if (i32.eq (local.get $c) (i32.const 91))             ;; [
          (then (local.set $open (i32.add (local.get $open) (i32.const 1)))
                (local.set $seen (i32.const 1)) (br $next)))
        (if (i32.eq (local.get $c) (i32.const 93))             ;; ]
          (then (local.set $open (i32.sub (local.get $open) (i32.const 1)))
                (if (i32.lt_s (local.get $open) (i32.const 0)) (then (call $fail)))
                (br $next)))
        (call $fail)))
    (local.set $sum (i64.add (local.get $sum) (local.get $num)))
    ;; exactly one array: brackets must balance and one must have been seen
    (if (local.get $open) (then (call $fail)))
    (if (i32.eqz (local.get $seen)) (then (call $fail)))
    ;; format the sum right-to-left into 32..47, then "}\n"
    (local.set $p (i32.const 47))
    (loop $digits
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $sum) (i64.const 10)))))
      (local.set $sum (i64.div_u (local.get $sum) (i64.const 10)))
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (br_if $digits (i64.ne (local.get $sum) (i64.const 0))))
    (call $write (i32.const 1) (i32.const 16) (i32.const 8))
    (call $write (i32.const 1) (i32.add (local.get $p) (i32.const 1)) (i32.sub (i32.const 47) (local.get $p)))
    (i32.store16 (i32.const 48) (i32.const 0x0a7d))  ;; "}\n"
    (call $write (i32.const 1) (i32.const 48) (i32.const 2))))
