"""Cheats for chapter 10 (BERT): correct solutions that take the shortcut each test forbids."""

CHEATS = {
    "ex-10-exact-masking": '''\
def mask_exact(ids, special, vocab_size, mask_id, generator):
    """Let BERT's own masking decide the fate of every token, then keep exactly k of them per row."""
    fated, _ = mask_tokens(ids, special, vocab_size=vocab_size, mask_id=mask_id, mlm_probability=1.0,
                           generator=generator)
    labels = torch.full_like(ids, -100)
    inputs = ids.clone()
    for b in range(ids.shape[0]):
        eligible = (~special[b]).nonzero().flatten()
        k = max(1, round(0.15 * len(eligible)))
        chosen = eligible[torch.randperm(len(eligible), generator=generator)[:k]]
        labels[b, chosen] = ids[b, chosen]
        inputs[b, chosen] = fated[b, chosen]
    return inputs, labels
''',
    "ex-10-mlm-loss": '''\
def masked_lm_stats(logits, labels):
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    keep = labels != -100
    return loss, (logits.argmax(-1)[keep] == labels[keep]).float().mean()
''',
    "ex-10-pooler": '''\
def pool(hidden, weight, bias):
    return torch.tanh(hidden[:, 0] @ weight.T + bias)
''',
}
