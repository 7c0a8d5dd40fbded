//! upper-zig: reads a JSON document such as {"text": "hi"} on stdin and writes the same document
//! with every ASCII letter inside string *values* upper-cased: {"text": "HI"}.
//! Keys and escape sequences are left alone, so valid JSON in gives valid JSON out.
//! Empty (or all-whitespace) input: a message on stderr and exit status 1.
//!
//! Uses the std.Io API of Zig 0.16+: `main` takes a `std.process.Init`, whose `io` and `gpa`
//! are passed to File readers/writers, which own their buffers and must be flushed.
const std = @import("std");

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

pub fn main(init: std.process.Init) !u8 {
    const io = init.io;
    var in_buf: [4096]u8 = undefined;
    var stdin = std.Io.File.stdin().readerStreaming(io, &in_buf);
    const input = try stdin.interface.allocRemaining(init.gpa, .limited(max_input));

    var err_buf: [256]u8 = undefined;
    var stderr = std.Io.File.stderr().writerStreaming(io, &err_buf);
    const body = std.mem.trim(u8, input, " \t\r\n");
    if (body.len == 0) {
        try stderr.interface.writeAll("upper-zig: empty input, expected {\"text\": \"...\"}\n");
        try stderr.interface.flush();
        return 1;
    }
    if (!upperValues(input)) {
        try stderr.interface.writeAll("upper-zig: JSON nested too deeply\n");
        try stderr.interface.flush();
        return 2;
    }

    var out_buf: [4096]u8 = undefined;
    var stdout = std.Io.File.stdout().writerStreaming(io, &out_buf);
    try stdout.interface.print("{s}\n", .{body});
    try stdout.interface.flush();
    return 0;
}
