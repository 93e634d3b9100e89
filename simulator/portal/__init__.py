"""HTML pages a person uses (DESIGN.md, layout): served by the control server only, behind its token.

So far: the manual driver's page (/_sim/manual), where a person rehearsing a connection reads what the
harness asks of their package and answers when the package cannot do it.
"""
