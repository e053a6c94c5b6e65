"""The shipped policy packs (default, dev_fast, prod_strict, llm_only), installed as package data."""
