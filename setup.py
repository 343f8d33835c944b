"""Package list for setuptools: toolkit plus the top-level modules/ and playbooks/ as data."""

from setuptools import find_packages, setup

SHIPPED = {"modules": "toolkit._data.modules", "playbooks": "toolkit._data.playbooks"}


def shipped_packages():
    packages, dirs = [], {}
    for top, target in SHIPPED.items():
        dirs[target] = top
        packages.append(target)
        for sub in find_packages(top):
            packages.append(f"{target}.{sub}")
            dirs[f"{target}.{sub}"] = f"{top}/{sub.replace('.', '/')}"
    return packages, dirs


extra, extra_dirs = shipped_packages()
setup(
    packages=find_packages(include=["toolkit", "toolkit.*"]) + extra,
    package_dir={"": ".", **extra_dirs},
    package_data={"toolkit._data.playbooks": ["*", "**/*"], "toolkit._data.modules": ["**/*.py"]},
    include_package_data=True,
)
