"""Names RDS refuses for a database or its master user, per engine (data only).

CreateDBInstance: DBName and MasterUsername "can't be a word reserved by the database engine".
PostgreSQL: its key words of the categories "reserved" and "reserved (can be function or type)"
(SQL Key Words appendix of the PostgreSQL manual), which are not valid as unquoted database or
role names. MySQL: the words marked (R) in "Keywords and Reserved Words" of MySQL 8.0 and 8.4.
MariaDB: its "Reserved Words" page. Plus the names RDS or the engine keep for themselves.
"""

__all__ = ["RESERVED_WORDS", "RESERVED_DB_NAMES", "RESERVED_USERNAMES",
           "RESERVED_USERNAME_PREFIXES"]


def _words(text):
    return frozenset(text.lower().split())


_POSTGRES = _words("""
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from
    full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only
    or order outer overlaps placing primary references returning right select session_user
    similar some symmetric system_user table tablesample then to trailing true union unique
    user using variadic verbose when where window with
""")

_MYSQL = _words("""
    accessible add all alter analyze and as asc asensitive before between bigint binary blob
    both by call cascade case change char character check collate column condition constraint
    continue convert create cross cube cume_dist current_date current_time current_timestamp
    current_user cursor database databases day_hour day_microsecond day_minute day_second dec
    decimal declare default delayed delete dense_rank desc describe deterministic distinct
    distinctrow div double drop dual each else elseif empty enclosed escaped except exists exit
    explain false fetch first_value float float4 float8 for force foreign from fulltext function
    generated get grant group grouping groups having high_priority hour_microsecond hour_minute
    hour_second if ignore in index infile inner inout insensitive insert int int1 int2 int3
    int4 int8 integer intersect interval into io_after_gtids io_before_gtids is iterate join
    json_table key keys kill lag last_value lateral lead leading leave left like limit linear
    lines load localtime localtimestamp lock long longblob longtext loop low_priority manual
    master_bind master_ssl_verify_server_cert match maxvalue mediumblob mediumint mediumtext
    middleint minute_microsecond minute_second mod modifies natural no_write_to_binlog not
    nth_value ntile null numeric of on optimize optimizer_costs option optionally or order out
    outer outfile over parallel partition percent_rank precision primary procedure purge qualify
    range rank read read_write reads real recursive references regexp release rename repeat
    replace require resignal restrict return revoke right rlike row row_number rows schema
    schemas second_microsecond select sensitive separator set show signal smallint spatial
    specific sql sql_big_result sql_calc_found_rows sql_small_result sqlexception sqlstate
    sqlwarning ssl starting stored straight_join system table tablesample terminated then
    tinyblob tinyint tinytext to trailing trigger true undo union unique unlock unsigned update
    usage use using utc_date utc_time utc_timestamp values varbinary varchar varcharacter
    varying virtual when where while window with write xor year_month zerofill
""")

_MARIADB = _words("""
    accessible add all alter analyze and as asc asensitive before between bigint binary blob
    both by call cascade case change char character check collate column condition constraint
    continue convert create cross current_date current_role current_time current_timestamp
    current_user cursor database databases day_hour day_microsecond day_minute day_second dec
    decimal declare default delayed delete delete_domain_id desc describe deterministic
    distinct distinctrow div do_domain_ids double drop dual each else elseif enclosed escaped
    except exists exit explain false fetch float float4 float8 for force foreign from fulltext
    general grant group having high_priority hour_microsecond hour_minute hour_second if ignore
    ignore_domain_ids ignore_server_ids in index infile inner inout insensitive insert int int1
    int2 int3 int4 int8 integer intersect interval into is iterate join key keys kill leading
    leave left like limit linear lines load localtime localtimestamp lock long longblob longtext
    loop low_priority master_heartbeat_period master_ssl_verify_server_cert match maxvalue
    mediumblob mediumint mediumtext middleint minute_microsecond minute_second mod modifies
    natural not no_write_to_binlog null numeric offset on optimize option optionally or order
    out outer outfile over page_checksum parse_vcol_expr partition position precision primary
    procedure purge range read read_write reads real recursive ref_system_id references regexp
    release rename repeat replace require resignal restrict return returning revoke right rlike
    row_number rows schema schemas second_microsecond select sensitive separator set show signal
    slow smallint spatial specific sql sql_big_result sql_calc_found_rows sql_small_result
    sqlexception sqlstate sqlwarning ssl starting stats_auto_recalc stats_persistent
    stats_sample_pages straight_join table terminated then tinyblob tinyint tinytext to trailing
    trigger true undo union unique unlock unsigned update usage use using utc_date utc_time
    utc_timestamp values varbinary varchar varcharacter varying when where while window with
    write xor year_month zerofill
""")

#: SQL words each engine reserves: refused as databaseName and as masterUsername.
RESERVED_WORDS = {"postgres": _POSTGRES, "mysql": _MYSQL, "mariadb": _MARIADB}

#: Databases the engine or RDS creates itself.
RESERVED_DB_NAMES = {
    "postgres": frozenset({"postgres", "template0", "template1", "rdsadmin"}),
    "mysql": frozenset({"mysql", "sys", "information_schema", "performance_schema", "innodb",
                        "tmp"}),
    "mariadb": frozenset({"mysql", "sys", "information_schema", "performance_schema",
                          "innodb", "tmp"}),
}

#: Users and roles the engine or RDS keeps for itself.
RESERVED_USERNAMES = {
    "postgres": frozenset({"postgres", "rdsadmin", "rdsrepladmin", "rds_superuser",
                           "rds_replication", "rds_password", "rds_iam", "rds_ad", "public",
                           "none"}),
    "mysql": frozenset({"rdsadmin", "rdsrepladmin", "root", "mysql", "rds_superuser_role"}),
    "mariadb": frozenset({"rdsadmin", "rdsrepladmin", "root", "mysql"}),
}

#: Role-name prefixes the engine keeps (PostgreSQL refuses roles named pg_*).
RESERVED_USERNAME_PREFIXES = {"postgres": ("pg_",), "mysql": (), "mariadb": ()}
