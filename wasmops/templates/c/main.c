/* __NAME__: a WASI command in C. Reads text on stdin and writes {"bytes": N, "words": W}.
 * Empty input is an error: {"error": "no text"} on stdout, a note on stderr, exit status 2. */
#include <ctype.h>
#include <stdio.h>

int main(void) {
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, stdin);
    size_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < n; i++) {
        int space = isspace((unsigned char)buf[i]);
        if (!space && !in_word) words++;
        in_word = !space;
    }
    if (words == 0) {
        printf("{\"error\": \"no text\"}\n");
        fprintf(stderr, "__NAME__: empty input\n");
        return 2;
    }
    printf("{\"bytes\": %zu, \"words\": %zu}\n", n, words);
    return 0;
}
