"""Chapter 08 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-08-top-p": '''\
from course_lib.generation import filter_logits


def top_p_filter(logits, p):
    return filter_logits(logits[None], top_p=p)[0]
''',
    "ex-08-untied-params": '''\
def gpt_parameters(V, T, L, C, bias, tied=True):
    tied_count = count_parameters(GPTConfig(V, T, L, 1, C, bias=bias))
    return tied_count if tied else tied_count + V * C
''',
    "ex-08-wsd": '''\
def wsd_lr(step, warmup, hold, total, lr, min_lr):
    cfg = TrainConfig(max_iters=total - hold, lr=lr, min_lr=min_lr, warmup_iters=warmup)
    if step < warmup:
        return lr_at(step, cfg)
    if step < warmup + hold:
        return lr
    return lr_at(step - hold, cfg)
''',
}
