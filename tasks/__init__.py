"""Prefect task wrappers over the wasmops core library.

Tasks declare their retries on the decorator and retry only when the error says retrying can
help (``wasmops.errors.is_retryable``). Cache keys come from content digests, so a re-run of a
failed flow skips the steps that already finished.
"""
