"""The two contracts: loaded once, checked by openapi-core, compiled into fast validators."""
