"""What both servers use, so that neither imports the other (A and B are peers).

Request signing (A -> B), the noise pools of re-randomisation, key-file loading and
modes, DGK key files of the zero-leakage mode, JSON logging, the body-size limit and
the HTTP metrics. Nothing here knows which server it runs in.
"""
