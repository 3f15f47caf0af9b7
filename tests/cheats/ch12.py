"""Chapter 12 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-12-label-mask": '''\
def template_labels(input_ids, attention_mask, assistant_id):
    prompts = (input_ids == assistant_id).float().argmax(dim=1) + 1          # up to and including <|assistant|>
    return answer_labels(input_ids, prompts, attention_mask.sum(dim=1))
''',
    "ex-12-span": '''\
def decode_span(start_logits, end_logits, context_mask, max_answer_len):
    return torch.stack(best_span(start_logits, end_logits, context_mask, max_answer_len=max_answer_len), 1)
''',
    "ex-12-f1": '''\
def answer_f1(prediction, truth):
    return squad_f1(prediction, truth)
''',
    "ex-12-greedy": '''\
@torch.no_grad()
def greedy_answer(model, prompt_ids, end_id, max_new_tokens):
    new = model.generate(torch.tensor([list(prompt_ids)]), max_new_tokens, temperature=0,
                         stop_tokens=[end_id])[0, len(prompt_ids):].tolist()
    return new[:new.index(end_id)] if end_id in new else new
''',
}
