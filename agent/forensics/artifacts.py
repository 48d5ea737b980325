"""The artifacts Exec collects and their columns, named after osquery's tables.

Column types: text (default), integer, bigint (written as a string), double,
boolean, datetime (ISO 8601 UTC with Z) and json (a list or an object).
"""

from agent.forensics.model import define

WINDOWS_ONLY = "this artifact exists on Windows only"

ARP_CACHE = define(
    "network.arp_cache", "address mac interface permanent:boolean state family"
)
CONNECTIONS = define(
    "network.connections",
    "pid:integer fd:integer socket:bigint family protocol local_address "
    "local_port:integer remote_address remote_port:integer state uid:integer "
    "ipv4_mapped:boolean net_namespace:bigint in_container:boolean pid_resolution "
    "name path cmdline",
)
LISTENING_PORTS = define(
    "network.listening_ports",
    "pid:integer port:integer protocol family address fd:integer socket:bigint "
    "uid:integer ipv4_mapped:boolean net_namespace:bigint in_container:boolean "
    "pid_resolution name path cmdline",
)
INTERFACES = define(
    "network.interfaces",
    "interface address mask broadcast family mac mtu:integer is_up:boolean "
    "speed:integer flags",
)
ETC_HOSTS = define("network.etc_hosts", "address hostnames source")
FIREWALL = define(
    "network.firewall",
    "kind source table chain policy rule name enabled:boolean direction action "
    "profile protocol local_ports remote_ports local_addresses remote_addresses "
    "app_name",
    timeout=300.0,
)
ROUTES = define(
    "network.routes",
    "destination netmask gateway flags:integer interface metric:integer "
    "mtu:integer family type",
)
MOUNTS = define(
    "network.mounts",
    "device path type flags root propagation super_options mount_id:integer "
    "parent_id:integer major_minor blocks_size:bigint blocks:bigint "
    "blocks_free:bigint blocks_available:bigint inodes:bigint inodes_free:bigint",
)
SHARES = define("network.shares", "name path type description options readonly:boolean")

PREFETCH = define(
    "software.prefetch",
    "path filename executable hash version:integer compressed:boolean "
    "uncompressed_size:integer file_size:integer run_count:integer "
    "last_run_time:integer last_run_time_utc:datetime other_run_times:json "
    "status error",
    linux=WINDOWS_ONLY,
    macos=WINDOWS_ONLY,
)
PIPES = define(
    "software.pipes",
    "pid:integer name fd:integer mode inode:bigint type path partner_pid:integer "
    "partner_fd:integer process_name",
)
BROWSER_EXTENSIONS = define(
    "software.browser_extensions",
    "browser_type uid:integer username name profile identifier version "
    "description permissions:json path type active:boolean source_url",
)
KERNEL_MODULES = define(
    "software.kernel_modules",
    "name size:bigint used_by status address path version description type "
    "start_mode state signed:boolean",
)
PATCHES = define(
    "software.patches",
    "hotfix_id name description action version version_old arch installed_by "
    "installed_on source",
)
PROGRAMS = define(
    "software.programs",
    "name version source size:bigint arch revision status maintainer section "
    "priority type install_location publisher install_date uninstall_string "
    "identifier path",
    timeout=300.0,
)
SERVICES = define(
    "software.services",
    "name display_name description status start_type path module_path "
    "user_account pid:integer service_type source_path",
)
STARTUP_ITEMS = define(
    "software.startup_items",
    "name path args type source status username schedule command",
)
WMI_PERSISTENCE = define(
    "software.wmi_persistence",
    "kind namespace name query query_language consumer filter "
    "command_line_template executable_path scripting_engine script_file_name "
    "script_text relative_path",
    linux=WINDOWS_ONLY,
    macos=WINDOWS_ONLY,
)

USERS = define(
    "users.users",
    "uid:integer gid:integer username description directory shell uuid type "
    "password_status is_hidden:boolean enabled:boolean",
)
GROUPS = define("users.groups", "gid:integer groupname group_sid comment members:json")
LOGGED_IN_USERS = define(
    "users.logged_in_users",
    "type user tty host time:integer time_utc:datetime pid:integer",
)
LOGIN_HISTORY = define(
    "users.login_history",
    "username tty pid:integer type:integer type_name time:integer "
    "time_utc:datetime host address source event_id:integer logon_type",
)
SHELL_HISTORY = define(
    "users.shell_history",
    "uid:integer username shell time:integer time_utc:datetime duration:integer "
    "command command_b64 history_file",
)

TIME = define(
    "system.time",
    "unix_time:integer datetime:datetime local_time local_timezone utc_offset "
    "timezone_name",
)
UPTIME = define(
    "system.uptime",
    "days:integer hours:integer minutes:integer seconds:integer "
    "total_seconds:integer boot_time:integer boot_time_utc:datetime",
)
OS_VERSION = define(
    "system.os_version",
    "name version major:integer minor:integer patch:integer build platform "
    "platform_like codename arch kernel_version hostname product_name_raw "
    "revision:integer",
)
DRIVES = define(
    "system.drives",
    "name parent vendor model size:bigint block_size:integer type label uuid "
    "serial file_system free_space:bigint mountpoint removable:boolean",
)
