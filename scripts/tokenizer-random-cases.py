#!/usr/bin/env python3
"""Random tokenizer test inputs: words in many scripts, emoji, digits, whitespace runs, special
token texts and (optionally) malformed UTF-8, separated like llama.cpp's .inp files.

  python3 scripts/tokenizer-random-cases.py SEED COUNT [N_BAD_BYTES] > cases.inp

tests/fixtures/tokenizer/random-cases.inp is `7 500 60`; its .out files come from llama.cpp
through scripts/tokenizer-reference.cpp.
"""
import random, sys
random.seed(int(sys.argv[1]))
words = ["the","of","and","Hello","world","don't","it's","we'll","THEY'RE","I'M","'s","'S","'ll","München","naïve","café","Привет","мир","我想在","apple","工作","こんにちは","한국어","Ελληνικά","مرحبا","🦙","🚀","😶‍🌫️","✅","½","²","١٢٣","३४५","3.14","1234567","00","---","===","...","!!!","??","''","```",'"""',"\t","\n","\r\n","\r","  ","   ","\u00a0","\u3000","\u2003","\u0085","\u200b","\ufeff","\u2581","▁▁","<s>","</s>","<|im_start|>","<|im_end|>","<|endoftext|>","<|eot_id|>","<|begin_of_text|>","<|user|>","<|end|>","<unk>","ø","ö","[PAD151650]","x\u0301","e\u0308","ﬁ","Ａｂｃ","𝔘𝔫𝔦","\U0002EBF0","\U00031350","\u0378","\ue000","$","+","<=>","^","~","|","`","@","#","%","_","{","}","(",")","[","]","/","\\","*","&",":",";","'",'"',",",".","?","!","-"]
def rnd_cp():
    r = random.random()
    if r < 0.5: return chr(random.randint(0x20, 0x7e))
    if r < 0.7: return chr(random.randint(0xa0, 0x2fff))
    if r < 0.8: return chr(random.randint(0x3000, 0xd7ff))
    if r < 0.9: return chr(random.randint(0xe000, 0xffff))
    return chr(random.randint(0x10000, 0x10ffff))
cases = []
for i in range(int(sys.argv[2])):
    parts = []
    for j in range(random.randint(0, 25)):
        r = random.random()
        if r < 0.55: parts.append(random.choice(words))
        elif r < 0.75: parts.append(''.join(rnd_cp() for _ in range(random.randint(1,4))))
        elif r < 0.9: parts.append(random.choice([" ", "  ", "\n", " \n ", "\t"]))
        else: parts.append(''.join(random.choice("0123456789") for _ in range(random.randint(1,9))))
    s = ''.join(parts)
    cases.append(s)
out = "\n__ggml_vocab_test__\n".join(cases) + "\n__ggml_vocab_test__\n"
b = out.encode('utf-8', 'surrogatepass')
# sprinkle a few invalid byte sequences into some cases
if len(sys.argv) > 3:
    import re
    bb = bytearray(b)
    for _ in range(int(sys.argv[3])):
        p = random.randrange(len(bb))
        if bb[p:p+1] != b'\n': bb[p] = random.choice([0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xff, 0xc0])
    b = bytes(bb)
sys.stdout.buffer.write(b)
