"""Chapter 11 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-11-last-token": '''\
def last_token_states(hidden, attention_mask):
    first = attention_mask.float().argmax(dim=1)                     # where each row's real tokens start
    rows = [torch.roll(h, -int(f), dims=0) for h, f in zip(hidden, first)]
    masks = [torch.roll(m, -int(f), dims=0) for m, f in zip(attention_mask, first)]
    return gather_last(torch.stack(rows), torch.stack(masks))        # now right-padded
''',
    "ex-11-lora": '''\
def _layer(W, b, A, B, alpha):
    lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(W.dtype)
    with torch.no_grad():
        lin.weight.copy_(W)
        lin.bias.copy_(b)
    lora = LoRALinear(lin, r=A.shape[0], alpha=alpha)
    with torch.no_grad():
        lora.lora_A.copy_(A)
        lora.lora_B.copy_(B)
    return lora


def lora_forward(x, W, b, A, B, alpha):
    return _layer(W, b, A, B, alpha)(x).detach()


def lora_merge(W, A, B, alpha):
    return _layer(W, torch.zeros(W.shape[0], dtype=W.dtype), A, B, alpha).merge().base.weight.detach()
''',
    "ex-11-lora-count": '''\
def lora_trainable(d_model, n_layers, r, n_targets, n_classes):
    names = ("q_proj", "v_proj", "k_proj", "out_proj")[:n_targets]
    m = BertClassifier(BertModel(BertConfig(50, 16, n_layers=n_layers, n_heads=1, d_model=d_model,
                                            d_ff=d_model)), n_classes)
    add_lora(m, r=r, targets=names)
    return trainable_parameters(m)
''',
}
