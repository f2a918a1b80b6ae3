"""The course layer: profiles and typed notebook settings, sessions, records and exercise checks,
the student-copy builder, the course runner, grading and its sandbox, the environment check, the
course map and the ``dflearn`` command line.

It sits above the core (``dflearn.data``, ``models``, ``training``...) and beside the lesson
modules; the core never imports it, except ``artifacts`` for the ``Session`` type.
"""
