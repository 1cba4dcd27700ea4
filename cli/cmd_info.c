/* cmd_info.c - `lext info FILE`: a checkpoint's configuration and size; `lext info --system`:
 * the CPU, its instruction sets, the matrix-product engine and kernels, the threads. */
#include "args.h"
#include "commands.h"
#include "lext.h"

#include <stdio.h>

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    char *files[1];
    size_t nf = 0;
    bool system = false;
    long long threads = 0;
    cli_opt opts[] = {
        {"--system", OPT_FLAG, &system, 0, 0,
         "the CPU, its instruction sets, the matrix-product engine and kernels lext will use", 0},
        {"--threads", OPT_INT, &threads, 0, 4096, "threads [all cores]", 0},
    };
    int rc = cli_parse(cmd, "FILE | --system", argc, argv, opts, sizeof opts / sizeof opts[0],
                       files, 1, &nf);
    if (rc) return rc == 1 ? 0 : rc;
    if (system) {
        if (nf) return cli_error(cmd, "--system takes no checkpoint file");
        lext_set_threads((int)threads);
        lext_system s;
        lext_system_get(&s);
        printf("cpu              %s\n", s.cpu);
        printf("instruction sets %s\n", s.isa[0] ? s.isa : "(none of avx2 fma avx512f avx512_bf16 "
                                                            "avx512_fp16 amx_tile amx_bf16)");
        printf("engine           %s\n", s.engine);
        printf("fp32 products    %s\n", s.fp32_kernel);
        printf("bf16 products    %s%s\n", s.bf16_kernel,
               s.bf16_native ? " (native bf16 arithmetic)"
                             : " (no bf16 unit faster than fp32 here: same numbers, fp32 speed)");
        printf("threads          %d\n", s.threads);
        return 0;
    }
    if (nf != 1) return cli_error(cmd, "expects one checkpoint file (lext info FILE) or --system");
    lext_model *m = NULL;
    lext_train_state ts = {0};
    bool has_train = false;
    if (lext_checkpoint_load(files[0], &m, &ts, &has_train)) return cli_lib_error(cmd, files[0]);
    const lext_config *c = lext_model_config(m);
    char np[32];
    fmt_count(np, sizeof np, (double)lext_model_num_params(m));
    printf("file             %s\n", files[0]);
    printf("format_version   %d\n", LEXT_FORMAT_VERSION);
    printf("pos              %s\n", lext_pos_name(c->pos));
    printf("n_layer          %d\n", c->n_layer);
    printf("n_head           %d (head dim %d)\n", c->n_head, c->d_model / c->n_head);
    printf("d_model          %d\n", c->d_model);
    printf("d_ff             %d\n", c->d_ff);
    printf("vocab_size       %d\n", c->vocab_size);
    printf("train_len        %d\n", c->train_len);
    if (c->pos == LEXT_POS_XPOS)
        printf("xpos_gamma       %g\nxpos_scale_base  %g\n", c->xpos_gamma, c->xpos_scale_base);
    if (c->pos == LEXT_POS_XPOS || c->pos == LEXT_POS_ROPE) printf("rope_base        %g\n", c->rope_base);
    printf("tied             %s\n", c->tied ? "yes" : "no");
    printf("norm_eps         %g\n", c->norm_eps);
    printf("parameters       %s (%d tensors)\n", np, lext_model_num_tensors(m));
    if (has_train && ts.machine[0]) printf("trained on       %s\n", ts.machine);
    if (has_train) {
        printf("training state   step %lld of %lld, batch %lld, lr %g, data %s\n",
               (long long)ts.step, (long long)ts.optim.total_steps, (long long)ts.batch,
               ts.optim.lr, ts.data_path);
    } else {
        printf("training state   none (weights only)\n");
    }
    lext_train_state_free(&ts);
    lext_model_free(m);
    return 0;
}
