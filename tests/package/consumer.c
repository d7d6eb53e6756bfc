/* A minimal program using an installed yoton (tests/package/run.sh builds it with
 * find_package(Yoton) against the shared and the static library, and with pkg-config). */
#include <stdio.h>
#include <string.h>

#include <yoton.h>

int main(void) {
    const char *version = yoton_version();
    const char *ok = yoton_strerror(0);
    if (version == NULL || ok == NULL) {
        fprintf(stderr, "consumer: NULL from yoton\n");
        return 1;
    }
    printf("yoton %s (header %d.%d.%d): %s\n", version, YOTON_VERSION_MAJOR, YOTON_VERSION_MINOR,
           YOTON_VERSION_PATCH, ok);
    return 0;
}
