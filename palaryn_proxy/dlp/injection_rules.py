"""Prompt-injection heuristics as data: each rule has a signal name, a weight, anchor words and a pattern."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    signal: str
    weight: float
    anchors: tuple[str, ...]  # lower-case substrings; the pattern runs only if one is present
    pattern: re.Pattern[str]


def _r(signal: str, weight: float, anchors: str, pattern: str) -> Rule:
    """`anchors`: comma-separated lower-case substrings, one of which is in (or next to) every match."""
    return Rule(signal, weight, tuple(anchors.split(",")), re.compile(pattern))


_AI = r"(?:ai|a\.i\.|llm|language model|assistant|agent|chatbot|gpt|claude|gemini|copilot|bot|model)s?"
_SENSITIVE = (
    r"(?:api[ _-]?keys?|credentials?|passwords?|secrets?|tokens?|system prompt|conversation|chat history"
    r"|environment variables|env(?:ironment)? vars?|private keys?|ssh keys?|\.env|cookies?|session ids?)"
)

# Patterns run on lower-cased, NFKC-folded text with invisible characters removed. Every repetition is
# bounded; `[^.\n]{0,N}?` keeps a match inside one sentence.
RULES: tuple[Rule, ...] = (
    _r("instruction_override", 0.55, "ignore,disregard,forget,override,bypass,follow",
       r"\b(?:ignore|disregard|forget|override|bypass|do not follow|don't follow|stop following)\b[^.\n]{0,40}?"
       r"\b(?:previous|prior|above|earlier|preceding|initial|original|system|all|any|your)\b"
       r"[^.\n]{0,30}?\b(?:instructions?|directions|prompts?|directives?|rules|guidelines|guardrails|context|constraints"
       r"|polic(?:y|ies)|programming)\b"),
    _r("instruction_override", 0.55, "ignore,disregard,forget",
       r"\b(?:ignore|disregard|forget)\b[^.\n]{0,20}?\b(?:instructions?|directions|prompts?|rules|directives?)\b[^.\n]{0,15}?"
       r"\b(?:above|before|earlier|previously|so far|you (?:were|have been) given)\b"),
    _r("new_instructions", 0.45, "instruction,prompt,directive,task,objective,orders,goal,purpose",
       r"\b(?:your\s++)?(?:new|updated|real|actual|true|revised|hidden|secret)\s++(?:system\s++)?"
       r"(?:instructions?|prompt|directives?|task|objective|orders|goal|purpose)\s*+(?::|are\b|is\b)"),
    _r("new_instructions", 0.35, "from now on", r"\bfrom now on\b,?[^.\n]{0,20}?\byou\b"),
    _r("role_hijack", 0.4, "you are now,you are no longer",
       r"\byou are (?:now|no longer)\b(?! (?:logged|signed|subscribed|connected|registered|ready|able))"),
    _r("role_hijack", 0.45, "unrestricted,unfiltered,uncensored,jailbroken,evil,rogue,malicious,dan,different ai",
       r"\b(?:act|behave|respond|pretend|roleplay)(?:ing)? (?:as|like|to be) (?:an? )?"
       r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|malicious|dan\b|different ai)"),
    _r("role_hijack", 0.45, "mode enabled,mode activated,mode on,do anything now",
       r"\b(?:(?:developer|god|dan|jailbreak|sudo|unrestricted) mode (?:enabled|activated|on)\b|\bdo anything now\b)"),
    _r("fake_role_marker", 0.5, "<|,[inst],[/inst],<system>,</system>,<<sys>>,<sys>,</sys>",
       r"<\|(?:im_start|im_end|system|endoftext|start_header_id|eot_id)\|>|\[/?inst\]|</?system>|<</?sys>>|</?sys>"),
    _r("fake_role_marker", 0.3, "system,assistant,developer",
       r"(?:^|\n)\s*+(?:#{1,3}\s*+)?(?:system|assistant|developer)\s*+(?:message|prompt)?\s*+:\s*+\S"),
    _r("addressed_to_ai", 0.35, "reading th,processing th,parsing th,summariz,summaris,browsing th,viewing th,analyz,analys",
       rf"\b{_AI}\b[^.\n]{{0,40}}?\b(?:reading|processing|parsing|summari[sz]ing|browsing|viewing|analy[sz]ing)"
       r" (?:this|these)\b"),
    _r("addressed_to_ai", 0.35, "note to,note for,message to,message for,instructions to,instructions for,instruction for,attention,important,if you are a",
       rf"\b(?:(?:note|message|instructions?|attention|important)\s*+(?:to|for)\s*+(?:the\s++|any\s++|all\s++)?{_AI}\b"
       r"|\bif you are an? (?:ai|llm|language model|assistant|agent|bot)\b)"),
    _r("secrecy", 0.4, "tell,inform,mention,reveal,alert,notify, let,warn",
       r"\b(?:do not|don't|never|without)\s++(?:tell|inform|mention|reveal|alert|notify|let|warn)(?:ing)?\b"
       r"[^.\n]{0,20}?\b(?:the\s++)?(?:user|human|operator|owner)\b"),
    _r("exfiltration", 0.35, "send,post,upload,forward,email,e-mail,leak,exfiltrate,transmit,include,append,paste,share,submit",
       r"\b(?:send|post|upload|forward|email|e-mail|leak|exfiltrate|transmit|include|append|paste|share|submit)\b"
       rf"[^.\n]{{0,50}}?\b{_SENSITIVE}\b[^.\n]{{0,60}}?\b(?:to|at|into|via)\b"),
    _r("exfiltration_target", 0.55, "send,post,upload,forward,email,leak,exfiltrate,transmit,append,share,submit",
       r"\b(?:send|post|upload|forward|email|leak|exfiltrate|transmit|append|share|submit)\b"
       rf"[^.\n]{{0,50}}?\b{_SENSITIVE}\b[^.\n]{{0,60}}?(?:https?://|\b[\w.-]{{1,64}}+@[\w-]{{1,63}}+\.[a-z]{{2,24}})"),
    _r("exfiltration_link", 0.55, "![",
       r"!\[[^\]\n]{0,100}\]\(\s*+https?://[^\s)]{1,200}\?[^\s)]{0,300}?(?:\{|%7b|<|\$|\[)"),
    _r("exfiltration_link", 0.5, "image,markdown,link,url",
       r"\b(?:render|display|show|include|output|embed)\b[^.\n]{0,40}?\b(?:image|markdown|link|url)\b[^.\n]{0,80}?"
       r"\b(?:append|include|add|encode|with)\b[^.\n]{0,40}?\b(?:conversation|secrets?|keys?|history|messages?|"
       r"credentials?|personal (?:data|information)|user data)\b"),
    _r("tool_hijack", 0.4, "tool,function",
       r"\b(?:call|invoke|use|run|execute|trigger)\s++(?:the\s++)?[`'\"]?[a-z][a-z0-9]{0,40}(?:[_.][a-z0-9]{1,40}){1,5}[`'\"]?"
       r"\s++(?:tool|function)\b[^.\n]{0,60}?\b(?:with|to|and)\b"),
    _r("tool_hijack", 0.35, "following,this command,this code,this script,these command,this shell,this bash",
       r"\b(?:execute|run)\s++(?:the\s++)?(?:following|this|these)\s++(?:shell\s++|bash\s++|terminal\s++)?"
       r"(?:commands?|code|script)\b(?![^.\n]{0,20}?\b(?:in|on) (?:your|a) (?:terminal|shell))"),
    _r("tool_hijack", 0.5, "curl,wget", r"\b(?:curl|wget)\s[^\n|]{1,200}\|\s*+(?:sudo\s++)?(?:ba|z)?sh\b"),
    _r("prompt_leak", 0.4, "system prompt,system message,initial instructions,hidden instructions,instructions above,developer message",
       r"\b(?:reveal|print|output|repeat|show|display|tell me|disclose|leak)\b[^.\n]{0,30}?\b(?:your|the)\s++"
       r"(?:full\s++|entire\s++|original\s++|initial\s++|complete\s++)?(?:system prompt|system message|initial instructions"
       r"|hidden instructions|instructions above|developer message)\b"),
    _r("encoded_instruction", 0.4, "decode",
       r"\bdecode\b[^.\n]{0,40}?\b(?:base64|rot13|hex|binary)\b[^.\n]{0,60}?\b(?:follow|execute|obey|do what|carry out)\b"),
)  # fmt: skip

# Text about prompt injection (articles, docs, papers) quotes the phrases above; such text is damped.
META_CUES = re.compile(
    r"\b(?:prompt injections?|jailbreak(?:s|ing)?|attackers?|attacks?|malicious|researchers?|vulnerabilit(?:y|ies)"
    r"|exploits?|red[- ]team(?:ing)?|adversarial|security|for example|e\.g\.|such as|owasp|mitigat\w{0,12}|papers?"
    r"|authors?|defen[cs]es?|tricked|studies|study|articles?|phrases? like|instructions like)\b"
)
FIRST_PERSON = re.compile(r"\b(?:i|my|our|we|me)\b")
QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
