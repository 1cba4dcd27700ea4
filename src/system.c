/* system.c - the machine lext runs on and the engine it uses (lext_system_get): for
 * `lext info --system`, the benchmark's records and the training checkpoint's "machine". */
#include "gemm.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* the value of "key\t: value" in /proc/cpuinfo's first processor, or "" */
static void cpuinfo_field(const char *key, char *out, size_t n) {
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0 || (line[kl] != '\t' && line[kl] != ' ')) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ') v++;
        snprintf(out, n, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

void lext_system_get(lext_system *s) {
    memset(s, 0, sizeof *s);
    char name[128], fam[16], model[16];
    cpuinfo_field("model name", name, sizeof name);
    cpuinfo_field("cpu family", fam, sizeof fam);
    cpuinfo_field("model", model, sizeof model);
    if (!name[0]) snprintf(name, sizeof name, "unknown CPU");
    if (fam[0] && model[0])
        snprintf(s->cpu, sizeof s->cpu, "%s (family %s model %s)", name, fam, model);
    else
        snprintf(s->cpu, sizeof s->cpu, "%s", name);
    /* the instruction sets that decide which kernels run, in the kernel's own spelling */
    static char flags[8192];
    cpuinfo_field("flags", flags, sizeof flags);
    static const char *const wanted[] = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16",
                                         "amx_tile", "amx_bf16"};
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, " %s ", wanted[i]);
        char padded[8194];
        snprintf(padded, sizeof padded, " %s ", flags);
        if (strstr(padded, pat)) {
            size_t l = strlen(s->isa);
            snprintf(s->isa + l, sizeof s->isa - l, "%s%s", l ? " " : "", wanted[i]);
        }
    }
    snprintf(s->engine, sizeof s->engine, "%s", gemm_engine_name());
    snprintf(s->fp32_kernel, sizeof s->fp32_kernel, "%s", gemm_f32_kernel());
    snprintf(s->bf16_kernel, sizeof s->bf16_kernel, "%s", gemm_bf16_kernel());
    s->bf16_native = gemm_bf16_native();
    s->threads = lext_num_threads();
}

void lext_system_machine(char *buf, size_t n) {
    lext_system s;
    lext_system_get(&s);
    snprintf(buf, n, "%s; %s; fp32 %s; bf16 %s", s.cpu, s.engine, s.fp32_kernel, s.bf16_kernel);
}
