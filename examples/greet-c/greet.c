/* greet-c: reads {"who": "ann"} on stdin and writes {"msg": "hello ann"} to stdout.
 * The greeting comes from the GREETING environment variable (default "hello").
 * Input that is not a JSON object, or whose "who" is not a string: a message on stderr, exit 2.
 * The JSON reader is deliberately tiny and hand-written: objects, arrays, strings (with escapes),
 * and bare literals (numbers, true, false, null) are accepted; only "who" is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT 65536
#define MAX_NAME 256

static const char *p;                 /* read cursor */
static char who[MAX_NAME] = "world";  /* used when the input has no "who" */

static void ws(void) { while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++; }

/* Parse a JSON string at p; copy its (still escaped) body into out when out != NULL. */
static int string(char *out, size_t cap) {
    size_t n = 0;
    if (*p++ != '"') return 0;
    while (*p != '"') {
        if (*p == '\0' || (unsigned char)*p < 0x20) return 0;
        if (*p == '\\') {
            if (!strchr("\"\\/bfnrtu", p[1]) || p[1] == '\0') return 0;
            if (out && n + 1 < cap) out[n++] = *p;
            p++;
        }
        if (out && n + 2 >= cap) return 0;  /* too long: reject rather than cut an escape in half */
        if (out) out[n++] = *p;
        p++;
    }
    p++;
    if (out) out[n] = '\0';
    return 1;
}

static int value(int depth);

/* Parse '{' or '[' ... matching close; object members named "who" fill `who`. */
static int container(int depth) {
    char close = *p == '{' ? '}' : ']', key[MAX_NAME];
    p++; ws();
    if (*p == close) { p++; return 1; }
    for (;;) {
        ws();
        if (close == '}') {
            if (!string(key, sizeof key)) return 0;
            ws();
            if (*p++ != ':') return 0;
            ws();
            if (depth == 1 && strcmp(key, "who") == 0) {
                if (*p != '"' || !string(who, sizeof who)) return 0;
            } else if (!value(depth + 1)) return 0;
        } else if (!value(depth + 1)) return 0;
        ws();
        if (*p == close) { p++; return 1; }
        if (*p++ != ',') return 0;
    }
}

static int value(int depth) {
    if (depth > 32) return 0;
    if (*p == '"') return string(NULL, 0);
    if (*p == '{' || *p == '[') return container(depth);
    const char *start = p;  /* numbers, true, false, null: a run of literal characters */
    while (*p && strchr("+-.0123456789eEtrufalsn", *p)) p++;
    return p > start;
}

int main(void) {
    static char input[MAX_INPUT + 1];
    size_t len = fread(input, 1, MAX_INPUT, stdin);
    input[len] = '\0';
    p = input;
    ws();
    int ok = *p == '{' && container(1);
    ws();
    if (!ok || *p != '\0') {
        fprintf(stderr, "greet-c: invalid JSON at byte %d, expected {\"who\": \"name\"}\n", (int)(p - input));
        return 2;
    }
    const char *greeting = getenv("GREETING");
    if (!greeting || !*greeting) greeting = "hello";
    /* `who` keeps its JSON escapes, so it can be written back as is; escape the greeting. */
    fputs("{\"msg\": \"", stdout);
    for (const char *g = greeting; *g; g++) {
        if (*g == '"' || *g == '\\') putchar('\\');
        if ((unsigned char)*g >= 0x20) putchar(*g);
    }
    printf(" %s\"}\n", who);
    return 0;
}
