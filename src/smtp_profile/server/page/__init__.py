"""The admin web page: static HTML, CSS and JavaScript, plus sign-in and sign-out.

The page calls the same Keyfactor JSON API as any client (version 2), authenticated by a
session cookie; see server/authentication.py for how the cookie is accepted.
"""
