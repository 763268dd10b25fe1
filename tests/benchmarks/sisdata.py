"""
Realistic generated SIS exports for the benchmarks: terms, users, courses, sections, enrollments.

A large institution's nightly full export is about 1 GB, most of it enrollments. Ids look like
real SIS ids (`S00123456`, `2026FA-MATH-1010-001`), names and emails vary, rows are sorted by
course as SIS reports usually are. Deterministic for a given size and seed.
"""

from __future__ import annotations

import random
from pathlib import Path

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Edsger",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "John",
    "Radia",
    "Tim",
    "Shafi",
    "Leslie",
    "Anita",
    "Dennis",
    "Niklaus",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Dijkstra",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Goldwasser",
    "Lamport",
    "Borg",
    "Ritchie",
    "Wirth",
    "Garcia",
    "Nguyen",
    "Smith",
    "Okafor",
    "Kowalski",
    "Tanaka",
]
SUBJECTS = [
    "MATH",
    "BIOL",
    "CHEM",
    "PHYS",
    "HIST",
    "ENGL",
    "COMP",
    "ECON",
    "PSYC",
    "ARTS",
    "MUSC",
    "PHIL",
    "SOCI",
    "GEOG",
]
ROLES = ("student",) * 18 + ("teacher", "ta")
TERM = "2026FA"


def write_export(folder: Path, *, total_bytes: int, seed: int = 2026) -> dict[str, Path]:
    """Write a five-file export of about `total_bytes` into `folder`; return {name: path}."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    students = max(50, total_bytes // 2600)
    courses = max(5, students // 40)
    paths = {
        name: folder / name
        for name in ("terms.csv", "users.csv", "courses.csv", "sections.csv", "enrollments.csv")
    }
    paths["terms.csv"].write_text(
        f"term_id,name,status,start_date,end_date\n{TERM},Fall 2026,active,2026-08-24,2026-12-18\n"
    )
    with paths["users.csv"].open("w") as users:
        users.write("user_id,login_id,first_name,last_name,email,status\n")
        for number in range(students):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            login = f"{first[0]}{last}{number}".lower()
            users.write(f"S{number:08d},{login},{first},{last},{login}@students.example.edu,active\n")
    course_ids = []
    with paths["courses.csv"].open("w") as course_file, paths["sections.csv"].open("w") as section_file:
        course_file.write("course_id,short_name,long_name,account_id,term_id,status\n")
        section_file.write("section_id,course_id,name,status\n")
        for number in range(courses):
            subject = rng.choice(SUBJECTS)
            code = 1000 + number % 3000
            course_id = f"{TERM}-{subject}-{code}-{number % 7 + 1:03d}"
            course_ids.append(course_id)
            course_file.write(
                f"{course_id},{subject}{code},{subject} {code} Section {number},ACAD-{subject},{TERM},active\n"
            )
            for section in range(1, 3):
                section_file.write(f"{course_id}-S{section},{course_id},Section {section},active\n")
    enrollment_budget = total_bytes - sum(path.stat().st_size for path in paths.values() if path.exists())
    with paths["enrollments.csv"].open("w") as enrollments:
        enrollments.write("course_id,section_id,user_id,role,status\n")
        written = 0
        index = 0
        while written < enrollment_budget:
            course_id = course_ids[index % len(course_ids)]
            chunk = "".join(
                f"{course_id},{course_id}-S{rng.randint(1, 2)},S{rng.randrange(students):08d},"
                f"{rng.choice(ROLES)},active\n"
                for _ in range(40)
            )
            enrollments.write(chunk)
            written += len(chunk)
            index += 1
    return paths
