"""Identities and roles: API keys stored hashed, roles mapped to scopes, a scope check on every route.

- `api.auth.policy`: the scopes, the roles and the route → scopes table.
- `api.auth.keys`: the key format (``lst_<id>_<secret>``), hashing and issuing.
- `api.auth.service`: the `Authenticator` (keys and session cookies) and the `Principal`.
- `api.auth.deps`: the FastAPI dependencies routes declare (`requires`, `open_access`).
- `api.auth.bootstrap`: first-start operator key, session secret, the replayer's keys.
"""
