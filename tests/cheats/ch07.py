"""Chapter 07 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-07-masked-logsumexp": '''\
def masked_logsumexp(z, allowed):
    return torch.logsumexp(z.masked_fill(~allowed, float("-inf")), dim=-1)
''',
    "ex-07-smoothed-grad": '''\
def smoothed_ce_grad(logits, targets, eps, ignore_index=-100):
    return losses.cross_entropy_grad(logits, targets, ignore_index=ignore_index, label_smoothing=eps)
''',
    "ex-07-kl": '''\
def kl_from_logits(p_logits, q_logits):
    return torch.distributions.kl_divergence(torch.distributions.Categorical(logits=p_logits),
                                             torch.distributions.Categorical(logits=q_logits))
''',
}
