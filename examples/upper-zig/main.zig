//! upper-zig: reads a JSON document such as {"text": "hi"} on stdin and writes the same document
//! with every ASCII letter inside string *values* upper-cased: {"text": "HI"}.
//! Keys and escape sequences are left alone, so valid JSON in gives valid JSON out.
//! Empty (or all-whitespace) input: a message on stderr and exit status 1.
//!
//! Zig 0.16+ reworked std I/O around `std.Io`. The convenient route, `pub fn main(init:
//! std.process.Init)` with `std.Io.File.stdin().readerStreaming(init.io, &buf)`, links the whole
//! `std.Io.Threaded` implementation and with it every WASI import (path_open, fd_prestat_*, ...),
//! which the `sandboxed` trust level refuses. So this module reads and writes with the raw WASI
//! calls (fd_read, fd_write) and formats with the new `std.Io.Writer.fixed` buffer writer:
//! its imports are fd_read, fd_write and proc_exit only.
const std = @import("std");
const wasi = std.os.wasi;

const max_input = 1 << 20;
const max_depth = 64;

/// Upper-cases string values in place; returns false when nesting is too deep.
fn upperValues(buf: []u8) bool {
    var is_object: [max_depth]bool = undefined;
    var depth: usize = 0;
    var expect_key = false;
    var in_string = false;
    var in_key = false;
    var escaped = false;
    for (buf) |*c| {
        if (in_string) {
            if (escaped) {
                escaped = false; // keep \n, \u, \" ... as they are
            } else if (c.* == '\\') {
                escaped = true;
            } else if (c.* == '"') {
                in_string = false;
            } else if (!in_key) {
                c.* = std.ascii.toUpper(c.*);
            }
            continue;
        }
        switch (c.*) {
            '"' => {
                in_string = true;
                in_key = expect_key;
                expect_key = false;
            },
            '{', '[' => {
                if (depth == max_depth) return false;
                is_object[depth] = c.* == '{';
                depth += 1;
                expect_key = c.* == '{';
            },
            '}', ']' => {
                if (depth > 0) depth -= 1;
                expect_key = false;
            },
            ',' => expect_key = depth > 0 and is_object[depth - 1],
            else => {},
        }
    }
    return true;
}

/// Read all of stdin into buf; null when it does not fit or reading fails.
fn readAll(buf: []u8) ?[]u8 {
    var len: usize = 0;
    while (true) {
        if (len == buf.len) return null;
        const iov = [_]wasi.iovec_t{.{ .base = buf[len..].ptr, .len = buf.len - len }};
        var n: usize = 0;
        if (wasi.fd_read(0, &iov, iov.len, &n) != .SUCCESS) return null;
        if (n == 0) return buf[0..len];
        len += n;
    }
}

/// Write all of data to fd (1 = stdout, 2 = stderr).
fn writeAll(fd: wasi.fd_t, data: []const u8) void {
    var rest = data;
    while (rest.len > 0) {
        const iov = [_]wasi.ciovec_t{.{ .base = rest.ptr, .len = rest.len }};
        var n: usize = 0;
        if (wasi.fd_write(fd, &iov, iov.len, &n) != .SUCCESS or n == 0) return;
        rest = rest[n..];
    }
}

var in_buf: [max_input]u8 = undefined;
var out_buf: [max_input + 1]u8 = undefined;

pub fn main() u8 {
    const input = readAll(&in_buf) orelse {
        writeAll(2, "upper-zig: input unreadable or larger than 1 MiB\n");
        return 2;
    };
    const body = std.mem.trim(u8, input, " \t\r\n");
    if (body.len == 0) {
        writeAll(2, "upper-zig: empty input, expected {\"text\": \"...\"}\n");
        return 1;
    }
    if (!upperValues(input)) {
        writeAll(2, "upper-zig: JSON nested too deeply\n");
        return 2;
    }
    var out: std.Io.Writer = .fixed(&out_buf);
    out.print("{s}\n", .{body}) catch unreachable; // out_buf holds any input plus a newline
    writeAll(1, out.buffered());
    return 0;
}
