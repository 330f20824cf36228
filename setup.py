from setuptools import find_packages, setup

setup(
    name="qbittorrent-fsi",
    version="0.1.0",
    description="Switch qBittorrent on and off from a NAS web UI (FSI v2.1 over supervisord)",
    packages=find_packages(include=["plugin", "plugin.*"]),
    package_data={"plugin": ["static/*"]},
    python_requires=">=3.11",
    install_requires=[
        "supervisor==4.3.0",
        "bottle==0.13.4",
        "waitress==3.0.2",
    ],
    extras_require={
        "test": [
            "pytest==9.0.3",
            "hypothesis==6.155.2",
            "playwright==1.65.2",
            "qbittorrent-api==2026.10.1",
        ],
    },
    entry_points={"console_scripts": ["qbittorrent-fsi=plugin.cli:main"]},
)
